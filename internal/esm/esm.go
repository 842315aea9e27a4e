// Package esm runs event source mappings: for each enabled mapping, pollers receive
// batches from one of Hearth's SQS queues and invoke the function synchronously
// with Lambda's SQS event, then delete what the function handled.
//
// Every node that runs functions runs the pollers of every mapping; they share the
// queue the way any SQS consumers do, since a received message stays invisible to
// other receivers for the queue's visibility timeout. Delivery is at least once: a
// node that dies mid-batch leaves its messages to reappear after the timeout.
//
// A mapping's life on one node:
//
//	registry record Enabled ──▶ poller started (5 workers, or MaximumConcurrency if lower)
//	   │ backlog: +1 worker a second (Lambda's 60 a minute), up to min(MaximumConcurrency, the function's concurrency)
//	   │ queue empty: −1 worker a second, down to the start size
//	   ▼
//	record Disabled or deleted ──▶ workers stop receiving; batches in flight finish
//
// The package knows neither the queue service nor the dispatcher: daemon/esm.go
// adapts them to Queues and Invoker.
package esm

import (
	"context"
	"time"

	"github.com/hearthfn/hearth/internal/control"
)

// Queues is what pollers need of the queue service. Queues are named by ARN.
type Queues interface {
	// Receive returns up to max (1–10) messages with every system and message
	// attribute, waiting up to wait (whole seconds, at most 20) for the first.
	Receive(ctx context.Context, queueArn string, max int, wait time.Duration) ([]Message, error)
	// DeleteBatch deletes received messages by receipt handle.
	DeleteBatch(ctx context.Context, queueArn string, receiptHandles []string) error
	// ChangeVisibility makes a received message visible again after d (0: at once).
	ChangeVisibility(ctx context.Context, queueArn, receiptHandle string, d time.Duration) error
	// Attributes reads what scaling and retries need.
	Attributes(ctx context.Context, queueArn string) (QueueAttributes, error)
}

// QueueAttributes are a queue's settings and backlog.
type QueueAttributes struct {
	VisibilityTimeout time.Duration
	Backlog           int // ApproximateNumberOfMessages: visible, waiting
}

// Invoker runs one synchronous invocation. functionError is Lambda's
// X-Amz-Function-Error ("" when the function succeeded); err is a failure to
// invoke at all (a throttle is errdefs.ErrTooManyRequests).
type Invoker interface {
	InvokeBatch(ctx context.Context, functionArn string, payload []byte, traceHeader string) (response []byte, functionError string, err error)
}

// Registry is what pollers need of the function registry.
type Registry interface {
	EventSourceMappings() []control.Mapping
	MappingChanges() uint64
	FunctionExists(name string) bool
	FunctionArn(name string) string
	QualifiedArn(name, qualifier string) string
	ConcurrencyLimits(name string) (control.ConcurrencyLimits, error)
}

var _ Registry = (*control.Service)(nil)
