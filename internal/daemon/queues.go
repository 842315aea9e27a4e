package daemon

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hearthfn/hearth/internal/async"
	"github.com/hearthfn/hearth/internal/sqs"
)

// queueSender is async invocation's way to the node's SQS queues: destinations and
// dead-letter queues.
func (d *Daemon) queueSender() async.QueueSender { return queueSender{d.queues} }

// queueExists is the registry's check of a destination or dead-letter queue ARN.
func (d *Daemon) queueExists(arn string) bool {
	name, ok := d.queues.QueueNameFromARN(arn)
	return ok && d.queues.QueueExists(name)
}

type queueSender struct{ q *sqs.Service }

func (s queueSender) SendToQueue(ctx context.Context, arn, body string, attrs map[string]async.Attribute, lineage int) error {
	name, ok := s.q.QueueNameFromARN(arn)
	if !ok {
		return fmt.Errorf("%s is not a queue of this server's region and account", arn)
	}
	in := &sqs.SendMessageInput{QueueName: name, Body: body}
	if len(attrs) > 0 {
		in.MessageAttributes = make(map[string]sqs.MessageAttributeValue, len(attrs))
		for k, a := range attrs {
			v := a.Value
			in.MessageAttributes[k] = sqs.MessageAttributeValue{DataType: a.DataType, StringValue: &v}
		}
	}
	if lineage > 0 {
		// The trace header a function's SDK would send: a function the message
		// triggers through a mapping continues the request chain's count.
		h := "Root=1-00000000-000000000000000000000000;Sampled=0;Lineage=00000000:" + strconv.Itoa(lineage)
		in.MessageSystemAttributes = map[string]sqs.MessageAttributeValue{"AWSTraceHeader": {DataType: "String", StringValue: &h}}
	}
	_, err := s.q.SendMessage(ctx, in)
	return err
}
