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
	QueryCode string // query protocol and x-amzn-query-error: "AWS.SimpleQueueService.NonExistentQueue"
	Status    int
	Message   string
	Sender    bool // the client's fault (Type Sender), else Receiver
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

// NewError builds a client-fault error with SQS's code; the query code and status
// follow from the code.
func NewError(code, format string, args ...any) *Error {
	e := &Error{Code: code, QueryCode: code, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Sender: true}
	if q, ok := queryCodes[code]; ok {
		e.QueryCode = q
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

func errNoQueue() *Error {
	return NewError("QueueDoesNotExist", "The specified queue does not exist.")
}

func errInvalidParam(format string, args ...any) *Error {
	return NewError("InvalidParameterValue", format, args...)
}

func errHandle(h string) *Error {
	return NewError("ReceiptHandleIsInvalid", "The input receipt handle %q is not a valid receipt handle.", h)
}
