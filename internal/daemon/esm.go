package daemon

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hearthfn/hearth/internal/esm"
	"github.com/hearthfn/hearth/internal/invoke"
	"github.com/hearthfn/hearth/internal/sqs"
)

// startMappings runs the event source mappings' pollers on a node that runs
// functions: every such node polls every enabled mapping, sharing its queue.
func (d *Daemon) startMappings() *esm.Manager {
	m := esm.New(esm.Config{
		Registry: d.ctl,
		Queues:   mappingQueues{d.queues},
		Invoker:  mappingInvoker{d.inv},
		Region:   d.cfg.Region,
		Logger:   d.log,
	})
	m.Start()
	return m
}

// Mappings is the node's event source mapping pollers (nil on a control-only node).
func (d *Daemon) Mappings() *esm.Manager { return d.esm }

// mappingQueues adapts the queue service to the pollers.
type mappingQueues struct{ q *sqs.Service }

var _ esm.Queues = mappingQueues{}

func (a mappingQueues) name(arn string) (string, error) {
	name, ok := a.q.QueueNameFromARN(arn)
	if !ok {
		return "", fmt.Errorf("%s is not a queue of this Hearth", arn)
	}
	return name, nil
}

func (a mappingQueues) Receive(ctx context.Context, queueArn string, max int, wait time.Duration) ([]esm.Message, error) {
	name, err := a.name(queueArn)
	if err != nil {
		return nil, err
	}
	secs := int32(min(wait/time.Second, 20))
	msgs, err := a.q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueName: name, MaxNumberOfMessages: int32(max), WaitTimeSeconds: &secs,
		AttributeNames: []string{"All"}, MessageAttributeNames: []string{"All"},
	})
	out := make([]esm.Message, len(msgs))
	for i, m := range msgs {
		out[i] = esm.Message{
			MessageId: m.MessageId, ReceiptHandle: m.ReceiptHandle, Body: m.Body,
			MD5OfBody: m.MD5OfBody, MD5OfMessageAttributes: m.MD5OfMessageAttributes,
			Attributes: m.Attributes,
		}
		if len(m.MessageAttributes) > 0 {
			out[i].MessageAttributes = make(map[string]esm.MessageAttribute, len(m.MessageAttributes))
			for k, v := range m.MessageAttributes {
				out[i].MessageAttributes[k] = esm.MessageAttribute{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue, StringListValues: v.StringListValues, BinaryListValues: v.BinaryListValues}
			}
		}
	}
	return out, err
}

func (a mappingQueues) DeleteBatch(ctx context.Context, queueArn string, handles []string) error {
	name, err := a.name(queueArn)
	if err != nil {
		return err
	}
	var first error
	for _, h := range handles {
		if err := a.q.DeleteMessage(ctx, name, h); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (a mappingQueues) ChangeVisibility(ctx context.Context, queueArn, handle string, d time.Duration) error {
	name, err := a.name(queueArn)
	if err != nil {
		return err
	}
	return a.q.ChangeMessageVisibility(ctx, name, handle, int32(d/time.Second))
}

func (a mappingQueues) Attributes(ctx context.Context, queueArn string) (esm.QueueAttributes, error) {
	name, err := a.name(queueArn)
	if err != nil {
		return esm.QueueAttributes{}, err
	}
	attrs, err := a.q.GetQueueAttributes(ctx, name, []string{"VisibilityTimeout", "ApproximateNumberOfMessages"})
	if err != nil {
		return esm.QueueAttributes{}, err
	}
	vis, _ := strconv.Atoi(attrs["VisibilityTimeout"])
	backlog, _ := strconv.Atoi(attrs["ApproximateNumberOfMessages"])
	return esm.QueueAttributes{VisibilityTimeout: time.Duration(vis) * time.Second, Backlog: backlog}, nil
}

// mappingInvoker adapts the dispatcher: a batch is an ordinary synchronous invoke,
// within the function's concurrency like any other.
type mappingInvoker struct{ inv *invoke.Dispatcher }

func (a mappingInvoker) InvokeBatch(ctx context.Context, functionArn string, payload []byte, traceHeader string) ([]byte, string, error) {
	out, err := a.inv.Invoke(ctx, &invoke.Input{
		RequestID:      esm.NewRequestID(),
		FunctionName:   functionArn,
		InvocationType: "RequestResponse",
		Payload:        payload,
		TraceHeader:    traceHeader,
	})
	if err != nil {
		return nil, "", err
	}
	return out.Payload, out.FunctionError, nil
}
