package sqs

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an SQS error: the code the JSON protocol names (`__type`'s suffix), the
// code the query protocol names (older, sometimes prefixed
// `AWS.SimpleQueueService.`), the HTTP status and whose fault it is. Both wire
// protocols render it from these fields, so one value serves either edge.
type Error struct {
	Code      string // JSON protocol: "QueueDoesNotExist"
	QueryCode string // query protocol, x-amzn-query-error and batch entries: "AWS.SimpleQueueService.NonExistentQueue"
	Status    int
	Message   string
	// QueryMessage, when set, is the query protocol's text where it differs from
	// the JSON protocol's (SQS's query API still names its WSDL version).
	QueryMessage string
	Sender       bool // the client's fault (Type Sender), else Receiver
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// queryCodes are the query protocol's names of the errors whose name changed when
// SQS moved to JSON; x-amzn-query-error carries them so query-compatible clients
// (botocore, aws-sdk-go-v2) report the code their older code matched on.
var queryCodes = map[string]string{
	"QueueDoesNotExist":            "AWS.SimpleQueueService.NonExistentQueue",
	"QueueNameExists":              "QueueAlreadyExists",
	"QueueDeletedRecently":         "AWS.SimpleQueueService.QueueDeletedRecently",
	"BatchEntryIdsNotDistinct":     "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
	"EmptyBatchRequest":            "AWS.SimpleQueueService.EmptyBatchRequest",
	"TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
	"InvalidBatchEntryId":          "AWS.SimpleQueueService.InvalidBatchEntryId",
	"BatchRequestTooLong":          "AWS.SimpleQueueService.BatchRequestTooLong",
	"MessageNotInflight":           "AWS.SimpleQueueService.MessageNotInflight",
	"PurgeQueueInProgress":         "AWS.SimpleQueueService.PurgeQueueInProgress",
	"UnsupportedOperation":         "AWS.SimpleQueueService.UnsupportedOperation",
}

// jsonCodes are the JSON protocol's names of the common errors that SQS names
// differently there; callers use the query protocol's (AWS's documented) name.
// AWS's recorded answers: InvalidParameterValue is `__type`
// InvalidParameterValueException with x-amzn-query-error InvalidParameterValue, and
// MissingParameter is MissingRequiredParameterException.
var jsonCodes = map[string]string{
	"InvalidParameterValue": "InvalidParameterValueException",
	"MissingParameter":      "MissingRequiredParameterException",
}

// NewError builds a client-fault error with SQS's code (the JSON protocol's name,
// or the query protocol's for the common errors of jsonCodes); the other
// protocol's code and the status follow from the code.
func NewError(code, format string, args ...any) *Error {
	e := &Error{Code: code, QueryCode: code, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Sender: true}
	if q, ok := queryCodes[code]; ok {
		e.QueryCode = q
	}
	if j, ok := jsonCodes[code]; ok {
		e.Code = j
	}
	switch code {
	case "PurgeQueueInProgress":
		e.Status = http.StatusForbidden
	case "AccessDenied":
		e.Status = http.StatusForbidden
	case "RequestThrottled", "OverLimit":
		e.Status = http.StatusForbidden
	}
	return e
}

// InternalError is a server-side failure (JetStream unavailable, …): 500, Receiver.
func InternalError(err error) *Error {
	return &Error{Code: "InternalFailure", QueryCode: "InternalFailure", Status: http.StatusInternalServerError, Message: "The request processing has failed because of an unknown error, exception or failure.", Sender: false}
}

// AsError returns err as an *Error, wrapping anything else as an internal failure.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return InternalError(err)
}

// QueueDoesNotExist is the error of a queue URL or name that names no queue. The
// query protocol's text names the WSDL version (AWS's recorded answers).
func QueueDoesNotExist() *Error {
	e := NewError("QueueDoesNotExist", "The specified queue does not exist.")
	e.QueryMessage = "The specified queue does not exist for this wsdl version."
	return e
}

func errNoQueue() *Error { return QueueDoesNotExist() }

func errInvalidParam(format string, args ...any) *Error {
	return NewError("InvalidParameterValue", format, args...)
}

func errHandle(h string) *Error {
	return NewError("ReceiptHandleIsInvalid", "The input receipt handle %q is not a valid receipt handle.", h)
}
