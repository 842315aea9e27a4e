// Package errdefs holds the small set of error kinds Hearth uses everywhere, and the one
// table that maps each kind to Lambda's error type and HTTP status. Code below the edge
// wraps a kind with %w and a message a person can act on; the edge (lambdaapi) renders
// it. Keeping the mapping in one table means a kind never renders two different ways.
package errdefs

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kind is a class of failure. Its Error text is Lambda's error type name.
type Kind struct {
	Type   string // x-amzn-ErrorType / "Type" in the body
	Status int    // HTTP status
}

func (k *Kind) Error() string { return k.Type }

// The kinds. Names and statuses are Lambda's (see the API model's exception shapes).
var (
	ErrNotFound                  = &Kind{"ResourceNotFoundException", http.StatusNotFound}
	ErrProvisionedConfigNotFound = &Kind{"ProvisionedConcurrencyConfigNotFoundException", http.StatusNotFound}
	ErrConflict                  = &Kind{"ResourceConflictException", http.StatusConflict}
	ErrInvalidParameter          = &Kind{"InvalidParameterValueException", http.StatusBadRequest}
	ErrValidation                = &Kind{"ValidationException", http.StatusBadRequest}
	ErrInvalidRequest            = &Kind{"InvalidRequestContentException", http.StatusBadRequest}
	ErrPreconditionFailed        = &Kind{"PreconditionFailedException", http.StatusPreconditionFailed}
	ErrRequestTooLarge           = &Kind{"RequestTooLargeException", http.StatusRequestEntityTooLarge}
	// ErrRequestEntityTooLarge is what AWS answers for a request body over an
	// operation's limit, before the operation runs (a 7 MB Invoke, a 71 MB
	// CreateFunction); the model's RequestTooLargeException is not what it sends.
	ErrRequestEntityTooLarge = &Kind{"RequestEntityTooLargeException", http.StatusRequestEntityTooLarge}
	ErrTooManyRequests       = &Kind{"TooManyRequestsException", http.StatusTooManyRequests}
	ErrUnsupportedMedia      = &Kind{"UnsupportedMediaTypeException", http.StatusUnsupportedMediaType}
	ErrCodeStorageExceeded   = &Kind{"CodeStorageExceededException", http.StatusBadRequest}
	ErrService               = &Kind{"ServiceException", http.StatusInternalServerError}
	ErrRecursiveInvocation   = &Kind{"RecursiveInvocationException", http.StatusBadRequest}
	// ErrNotImplemented marks an operation of the Lambda API that Hearth does not
	// implement yet. 501 is not retried by the SDKs, so the caller sees it at once.
	ErrNotImplemented = &Kind{"NotImplementedException", http.StatusNotImplemented}
	// ErrUnknownOperation is a path and method that name no Lambda operation at all.
	ErrUnknownOperation = &Kind{"UnknownOperationException", http.StatusNotFound}

	// Authentication failures (SigV4), as AWS names them.
	ErrMissingAuthenticationToken = &Kind{"MissingAuthenticationTokenException", http.StatusForbidden}
	ErrIncompleteSignature        = &Kind{"IncompleteSignatureException", http.StatusBadRequest}
	ErrUnrecognizedClient         = &Kind{"UnrecognizedClientException", http.StatusForbidden}
	ErrInvalidSignature           = &Kind{"InvalidSignatureException", http.StatusForbidden}
	ErrExpiredToken               = &Kind{"ExpiredTokenException", http.StatusForbidden}
	ErrAccessDenied               = &Kind{"AccessDeniedException", http.StatusForbidden}
)

// KindOf returns the kind err wraps, or ErrService when it wraps none: an error nobody
// classified is our fault, not the caller's.
func KindOf(err error) *Kind {
	var k *Kind
	if errors.As(err, &k) {
		return k
	}
	return ErrService
}

// New returns an error of kind k with a formatted message.
func New(k *Kind, format string, args ...any) error {
	return &kindError{kind: k, msg: fmt.Sprintf(format, args...)}
}

// Message is the text a caller should see: the message without the kind's name.
func Message(err error) string {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.msg
	}
	var k *Kind
	if errors.As(err, &k) {
		if err == error(k) {
			return k.Type
		}
		// fmt.Errorf("%w: detail", kind) reads "Type: detail"; the caller sees the
		// type in x-amzn-ErrorType already.
		return strings.TrimPrefix(err.Error(), k.Type+": ")
	}
	return err.Error()
}

type kindError struct {
	kind       *Kind
	msg        string
	reason     string
	retryAfter int // seconds; 0: no hint
}

// Throttled is a 429 TooManyRequestsException with Lambda's Reason field
// (ReservedFunctionConcurrentInvocationLimitExceeded, …) and message.
func Throttled(reason, format string, args ...any) error {
	return &kindError{kind: ErrTooManyRequests, msg: fmt.Sprintf(format, args...), reason: reason}
}

// RetryLater is a 429 TooManyRequestsException with a Retry-After hint (the
// SDKs' retryAfterSeconds) and, when reason is not "", Lambda's Reason field.
func RetryLater(reason string, afterSeconds int, format string, args ...any) error {
	return &kindError{kind: ErrTooManyRequests, msg: fmt.Sprintf(format, args...), reason: reason, retryAfter: max(afterSeconds, 1)}
}

// RetryAfter is the Retry-After hint of err's answer, in seconds (0: none).
func RetryAfter(err error) int {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.retryAfter
	}
	return 0
}

// Reason is the Reason field of err's answer ("" when it has none).
func Reason(err error) string {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.reason
	}
	return ""
}

func (e *kindError) Error() string { return e.kind.Type + ": " + e.msg }
func (e *kindError) Unwrap() error { return e.kind }
