package sqsapi

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// BenchmarkSendMessage is SendMessage through aws-sdk-go-v2 and the edge, in process.
func BenchmarkSendMessage(b *testing.B) {
	_, c := newServer(b)
	ctx := b.Context()
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	body := aws.String(string(make([]byte, 256)))
	*body = "x" + (*body)[1:]
	for i := range []byte(*body) {
		_ = i
	}
	msg := aws.String(string([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: msg}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetQueueUrl is a signed call that touches no JetStream: the edge's and
// the SDK's own cost.
func BenchmarkGetQueueUrl(b *testing.B) {
	_, c := newServer(b)
	ctx := b.Context()
	if _, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("bench")}); err != nil {
			b.Fatal(err)
		}
	}
}
