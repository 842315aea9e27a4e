package e2e

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// SQS on Hearth (internal/sqs, internal/sqsapi), through aws-sdk-go-v2's SQS client
// (AWS JSON protocol), boto3 (also JSON), and the query protocol the AWS CLI v2 of
// Debian speaks (raw form posts here; test/cli/sqs.sh drives the CLI itself).

func sqsErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSQSQueueLifecycle(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	prefix := uniqueName("life")
	var urls []string
	for i := range 3 {
		out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("%s-%d", prefix, i)),
			Attributes: map[string]string{"VisibilityTimeout": "45"}, Tags: map[string]string{"team": "hearth"}})
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, aws.ToString(out.QueueUrl))
	}
	if want := s.url() + "/" + accountID + "/" + prefix + "-0"; urls[0] != want {
		t.Fatalf("queue URL %s, want %s", urls[0], want)
	}
	// Idempotent with the same attributes; QueueNameExists with others.
	if _, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(prefix + "-0"), Attributes: map[string]string{"VisibilityTimeout": "45"}}); err != nil {
		t.Fatalf("same create: %v", err)
	}
	_, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(prefix + "-0"), Attributes: map[string]string{"VisibilityTimeout": "46"}})
	var exists *types.QueueNameExists
	if !errors.As(err, &exists) {
		t.Fatalf("different create: %v", err)
	}
	got, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(prefix + "-1")})
	if err != nil || aws.ToString(got.QueueUrl) != urls[1] {
		t.Fatalf("GetQueueUrl: %v %v", err, got)
	}
	// Paging by 2 over the prefix.
	var listed []string
	p := awssqs.NewListQueuesPaginator(c, &awssqs.ListQueuesInput{QueueNamePrefix: aws.String(prefix), MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		listed = append(listed, out.QueueUrls...)
	}
	if pages != 2 || strings.Join(listed, ",") != strings.Join(urls, ",") {
		t.Fatalf("listed %v in %d pages", listed, pages)
	}
	attrs, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(urls[0]), AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"VisibilityTimeout": "45", "DelaySeconds": "0", "MaximumMessageSize": "1048576",
		"MessageRetentionPeriod": "345600", "ReceiveMessageWaitTimeSeconds": "0", "ApproximateNumberOfMessages": "0",
		"ApproximateNumberOfMessagesNotVisible": "0", "ApproximateNumberOfMessagesDelayed": "0",
		"QueueArn": "arn:aws:sqs:" + region + ":" + accountID + ":" + prefix + "-0"} {
		if attrs.Attributes[k] != want {
			t.Errorf("%s = %q, want %q", k, attrs.Attributes[k], want)
		}
	}
	for _, k := range []string{"CreatedTimestamp", "LastModifiedTimestamp"} {
		if ts := attrs.Attributes[k]; ts == "" || len(ts) != 10 {
			t.Errorf("%s = %q", k, ts)
		}
	}
	one, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(urls[0]), AttributeNames: []types.QueueAttributeName{"QueueArn"}})
	if err != nil || len(one.Attributes) != 1 {
		t.Fatalf("one attribute: %v %v", err, one)
	}
	if _, err := c.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(urls[0]), Attributes: map[string]string{"DelaySeconds": "3", "MessageRetentionPeriod": "600"}}); err != nil {
		t.Fatal(err)
	}
	attrs, _ = c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(urls[0]), AttributeNames: []types.QueueAttributeName{"DelaySeconds", "MessageRetentionPeriod"}})
	if attrs.Attributes["DelaySeconds"] != "3" || attrs.Attributes["MessageRetentionPeriod"] != "600" {
		t.Fatalf("after set: %v", attrs.Attributes)
	}
	// Tags.
	if _, err := c.TagQueue(ctx, &awssqs.TagQueueInput{QueueUrl: aws.String(urls[0]), Tags: map[string]string{"env": "test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagQueue(ctx, &awssqs.UntagQueueInput{QueueUrl: aws.String(urls[0]), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListQueueTags(ctx, &awssqs.ListQueueTagsInput{QueueUrl: aws.String(urls[0])})
	if err != nil || jsonOf(t, tags.Tags) != `{"env":"test"}` {
		t.Fatalf("tags: %v %v", err, tags)
	}
	for _, u := range urls {
		if _, err := c.DeleteQueue(ctx, &awssqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(prefix + "-1")})
	var dne *types.QueueDoesNotExist
	if !errors.As(err, &dne) {
		t.Fatalf("deleted queue: %v", err)
	}
}

func TestSQSSendReceiveVisibility(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	_, q := createQueue(t, c, "vis", map[string]string{"VisibilityTimeout": "1"})
	attrs := map[string]types.MessageAttributeValue{
		"trace": {DataType: aws.String("String"), StringValue: aws.String("abc ✓")},
		"n":     {DataType: aws.String("Number"), StringValue: aws.String("3.14")},
		"blob":  {DataType: aws.String("Binary.gz"), BinaryValue: []byte{0, 0xff, 7}},
	}
	// The SDK checks MD5OfMessageBody and MD5OfMessageAttributes of both answers.
	sent, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("hello\nworld"), MessageAttributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	recv := func(wait int32, vis *int32) []types.Message {
		t.Helper()
		in := &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: wait, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}, MessageAttributeNames: []string{"All"}}
		if vis != nil {
			in.VisibilityTimeout = *vis
		}
		out, err := c.ReceiveMessage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	m := recv(5, nil)
	if len(m) != 1 || aws.ToString(m[0].MessageId) != aws.ToString(sent.MessageId) || aws.ToString(m[0].Body) != "hello\nworld" ||
		m[0].Attributes["ApproximateReceiveCount"] != "1" || len(m[0].MessageAttributes) != 3 || m[0].Attributes["SenderId"] != accountID {
		t.Fatalf("first receive: %s", jsonOf(t, m))
	}
	first := m[0].Attributes["ApproximateFirstReceiveTimestamp"]
	// Invisible while in flight; back after its 1 s timeout with a count of 2.
	if again := recv(0, nil); len(again) != 0 {
		t.Fatalf("in-flight message received again")
	}
	m = recv(10, nil)
	if len(m) != 1 || m[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after timeout: %s", jsonOf(t, m))
	}
	if m[0].Attributes["SentTimestamp"] == "" || first == "" {
		t.Fatalf("timestamps: %v", m[0].Attributes)
	}
	// ChangeMessageVisibility to 0: visible at once.
	if _, err := c.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q), ReceiptHandle: m[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	m = recv(0, aws.Int32(60))
	if len(m) != 1 || m[0].Attributes["ApproximateReceiveCount"] != "3" {
		t.Fatalf("after visibility 0: %s", jsonOf(t, m))
	}
	a, _ := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessagesNotVisible"}})
	if a.Attributes["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Fatalf("not visible count: %v", a.Attributes)
	}
	if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	// Deleting again succeeds; a forged handle does not.
	if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m[0].ReceiptHandle}); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, err = c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: aws.String("forged")})
	var bad *types.ReceiptHandleIsInvalid
	if !errors.As(err, &bad) {
		t.Fatalf("forged handle: %v", err)
	}
	if m := recv(2, nil); len(m) != 0 {
		t.Fatalf("deleted message came back: %s", jsonOf(t, m))
	}
}

func TestSQSLongPollAndDelay(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	_, q := createQueue(t, c, "poll", nil)
	// A long poll returns as soon as a message is sent.
	type result struct {
		msgs []types.Message
		took time.Duration
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 20})
		r := result{took: time.Since(start), err: err}
		if out != nil {
			r.msgs = out.Messages
		}
		done <- r
	}()
	time.Sleep(500 * time.Millisecond) // let the poll start waiting; not an assertion
	sentAt := time.Since(start)
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("wake")}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || len(r.msgs) != 1 {
		t.Fatalf("long poll: %v %v", r.err, r.msgs)
	}
	if r.took-sentAt > 5*time.Second {
		t.Fatalf("long poll answered %v after the send", r.took-sentAt)
	}
	t.Logf("long poll answered %v after the send", r.took-sentAt)
	// An empty one returns after its wait.
	start = time.Now()
	out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 2})
	took := time.Since(start)
	if err != nil || len(out.Messages) != 0 || took < 1900*time.Millisecond || took > 6*time.Second {
		t.Fatalf("empty long poll: %v %d messages after %v", err, len(out.Messages), took)
	}
	// DelaySeconds: invisible, counted as delayed, then delivered.
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("later"), DelaySeconds: 2}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	a, _ := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []types.QueueAttributeName{"All"}})
	if a.Attributes["ApproximateNumberOfMessagesDelayed"] != "1" {
		t.Fatalf("delayed count: %v", a.Attributes)
	}
	out, err = c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q)})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("delayed message visible at once: %v %v", err, out)
	}
	out, err = c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 10})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "later" {
		t.Fatalf("delayed message: %v %v", err, out)
	}
	if el := time.Since(sent); el < 1500*time.Millisecond {
		t.Fatalf("delayed message came after %v", el)
	}
}

func TestSQSBatches(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	_, q := createQueue(t, c, "batch", nil)
	out, err := c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("one"), MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}},
		{Id: aws.String("b"), MessageBody: aws.String("two")},
		{Id: aws.String("bad"), MessageBody: aws.String("x"), DelaySeconds: 1000},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 2 || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "bad" || !out.Failed[0].SenderFault ||
		aws.ToString(out.Failed[0].Code) != "InvalidParameterValue" {
		t.Fatalf("send batch: %s", jsonOf(t, out))
	}
	var handles []types.DeleteMessageBatchRequestEntry
	eventually(t, 10*time.Second, "both messages received", func() error {
		r, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return err
		}
		for _, m := range r.Messages {
			handles = append(handles, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("m", len(handles))), ReceiptHandle: m.ReceiptHandle})
		}
		if len(handles) < 2 {
			return fmt.Errorf("%d received", len(handles))
		}
		return nil
	})
	handles = append(handles, types.DeleteMessageBatchRequestEntry{Id: aws.String("forged"), ReceiptHandle: aws.String("nope")})
	del, err := c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(q), Entries: handles})
	if err != nil || len(del.Successful) != 2 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Fatalf("delete batch: %v %s", err, jsonOf(t, del))
	}
	// Batch-level errors.
	_, err = c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.SendMessageBatchRequestEntry{}})
	if code := sqsErrorCode(err); code != "AWS.SimpleQueueService.EmptyBatchRequest" {
		t.Fatalf("empty batch: %v", err)
	}
	var eleven []types.SendMessageBatchRequestEntry
	for i := range 11 {
		eleven = append(eleven, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String("x")})
	}
	_, err = c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: eleven})
	var tooMany *types.TooManyEntriesInBatchRequest
	if !errors.As(err, &tooMany) {
		t.Fatalf("eleven entries: %v", err)
	}
	_, err = c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("x"), ReceiptHandle: aws.String("a")}, {Id: aws.String("x"), ReceiptHandle: aws.String("b")}}})
	var notDistinct *types.BatchEntryIdsNotDistinct
	if !errors.As(err, &notDistinct) {
		t.Fatalf("repeated ids: %v", err)
	}
}

func TestSQSRedriveToDLQ(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	dlqName, dlq := createQueue(t, c, "dlq", nil)
	srcName, src := createQueue(t, c, "src", map[string]string{"VisibilityTimeout": "1",
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:%s","maxReceiveCount":2}`, region, accountID, dlqName)})
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(src), MessageBody: aws.String("poison")}); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(src), WaitTimeSeconds: 5,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"ApproximateReceiveCount"}})
		if err != nil || len(out.Messages) != 1 || out.Messages[0].Attributes["ApproximateReceiveCount"] != fmt.Sprint(want) {
			t.Fatalf("receive %d: %v %v", want, err, out)
		}
	}
	// The third receive moves it.
	out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(src), WaitTimeSeconds: 3})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("source still answered: %v %v", err, out)
	}
	out, err = c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(dlq), WaitTimeSeconds: 5,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "poison" ||
		out.Messages[0].Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:"+region+":"+accountID+":"+srcName {
		t.Fatalf("dead-letter queue: %v %s", err, jsonOf(t, out))
	}
	// A redrive target that does not exist is refused.
	_, err = c.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(src), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:missing","maxReceiveCount":2}`}})
	if code := sqsErrorCode(err); code != "InvalidParameterValue" {
		t.Fatalf("missing target: %v", err)
	}
}

func TestSQSFIFO(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	_, q := createQueue(t, c, "order.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	send := func(group, body, dedup string) *awssqs.SendMessageOutput {
		t.Helper()
		in := &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(body), MessageGroupId: aws.String(group)}
		if dedup != "" {
			in.MessageDeduplicationId = aws.String(dedup)
		}
		out, err := c.SendMessage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	firstA := send("a", "a1", "")
	send("b", "b1", "")
	send("a", "a2", "")
	send("b", "b2", "")
	// Content-based dedupe: the same body again is the first message.
	if dup := send("a", "a1", ""); aws.ToString(dup.MessageId) != aws.ToString(firstA.MessageId) {
		t.Fatalf("duplicate got a new id %s", aws.ToString(dup.MessageId))
	}
	// An explicit id dedupes whatever the body.
	send("a", "a3", "same")
	send("a", "a3 again", "same")
	_, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("x")})
	if code := sqsErrorCode(err); code != "MissingParameter" {
		t.Fatalf("no group id: %v", err)
	}
	var got []string
	perGroup := map[string][]string{}
	for len(got) < 5 {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			t.Fatalf("stopped after %v", got)
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			got = append(got, body)
			g := m.Attributes["MessageGroupId"]
			perGroup[g] = append(perGroup[g], body)
			if m.Attributes["SequenceNumber"] == "" || m.Attributes["MessageDeduplicationId"] == "" {
				t.Fatalf("FIFO attributes missing: %v", m.Attributes)
			}
			// Nothing later of the group while this one is in flight.
			more, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10,
				MessageSystemAttributeNames: []types.MessageSystemAttributeName{"MessageGroupId"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range more.Messages {
				if o.Attributes["MessageGroupId"] == g {
					t.Fatalf("%s received while %s of its group is in flight", aws.ToString(o.Body), body)
				}
				_, _ = c.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q), ReceiptHandle: o.ReceiptHandle, VisibilityTimeout: 0})
			}
			if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if strings.Join(perGroup["a"], ",") != "a1,a2,a3" || strings.Join(perGroup["b"], ",") != "b1,b2" || len(got) != 5 {
		t.Fatalf("received %v (per group %v)", got, perGroup)
	}
}

func TestSQSPurge(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	_, q := createQueue(t, c, "purge", nil)
	for i := range 5 {
		if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PurgeQueue(ctx, &awssqs.PurgeQueueInput{QueueUrl: aws.String(q)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("after purge: %v %v", err, out)
	}
	a, _ := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
	if a.Attributes["ApproximateNumberOfMessages"] != "0" {
		t.Fatalf("count after purge: %v", a.Attributes)
	}
}

func TestSQSErrorsJSON(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	_, q := createQueue(t, c, "errs", nil)
	_, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(s.url() + "/" + accountID + "/missing-queue"), MessageBody: aws.String("x")})
	var dne *types.QueueDoesNotExist
	if !errors.As(err, &dne) || httpStatus(err) != 400 {
		t.Fatalf("missing queue: %v", err)
	}
	_, err = c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []types.QueueAttributeName{"Bogus"}})
	if code := sqsErrorCode(err); code != "InvalidAttributeName" {
		t.Fatalf("bad attribute name: %v", err)
	}
	_, err = c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(strings.Repeat("x", 1048577))})
	if code := sqsErrorCode(err); code != "InvalidParameterValue" || !strings.Contains(err.Error(), "Message must be shorter than 1048576 bytes") {
		t.Fatalf("oversized: %v", err)
	}
	_, err = c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("nul \x00")})
	if code := sqsErrorCode(err); code != "InvalidMessageContents" {
		t.Fatalf("bad character: %v", err)
	}
	_, err = c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 11})
	if code := sqsErrorCode(err); code != "InvalidParameterValue" {
		t.Fatalf("11 messages: %v", err)
	}
	// The raw document: __type and the query-compatible header.
	r := s.sqsJSON(t, "GetQueueUrl", []byte(`{"QueueName":"missing-queue"}`))
	if r.Status != 400 || !strings.Contains(string(r.Body), `"__type":"com.amazonaws.sqs#QueueDoesNotExist"`) ||
		r.Header.Get("x-amzn-query-error") != "AWS.SimpleQueueService.NonExistentQueue;Sender" {
		t.Fatalf("raw JSON error: %d %v %s", r.Status, r.Header, r.Body)
	}
	r = s.sqsJSON(t, "SendMessage", []byte(`{"QueueUrl": 5`))
	if r.Status != 400 || !strings.Contains(string(r.Body), "__type") {
		t.Fatalf("malformed JSON: %d %s", r.Status, r.Body)
	}
	// A 1 MiB message once the queue allows it; 5 MB bodies are refused unread.
	if _, err := c.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(q), Attributes: map[string]string{"MaximumMessageSize": "1048576"}}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("b", 1048576)
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(big)}); err != nil {
		t.Fatalf("1 MiB message: %v", err)
	}
	out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 2})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != big {
		t.Fatalf("1 MiB message back: %v", err)
	}
	r = s.sqsJSON(t, "SendMessage", make([]byte, 5<<20))
	if r.Status != 413 {
		t.Fatalf("5 MB body: %d %s", r.Status, r.Body)
	}
}

func TestSQSErrorsQuery(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	name, q := createQueue(t, c, "query", nil)
	path := "/" + accountID + "/" + name
	r := s.sqsQuery(t, path, url.Values{"Action": {"SendMessage"}, "MessageBody": {"via form"},
		"MessageAttribute.1.Name": {"a"}, "MessageAttribute.1.Value.DataType": {"String"}, "MessageAttribute.1.Value.StringValue": {"b"}})
	if r.Status != 200 || !strings.Contains(string(r.Body), "<SendMessageResponse") || !strings.Contains(string(r.Body), "<MD5OfMessageBody>") {
		t.Fatalf("send: %d %s", r.Status, r.Body)
	}
	r = s.sqsQuery(t, "/", url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {q}, "AttributeName.1": {"All"}, "MessageAttributeName.1": {"All"}, "WaitTimeSeconds": {"2"}})
	if r.Status != 200 || !strings.Contains(string(r.Body), "<Body>via form</Body>") || !strings.Contains(string(r.Body), "<MessageAttribute><Name>a</Name>") {
		t.Fatalf("receive: %d %s", r.Status, r.Body)
	}
	r = s.sqsQuery(t, "/", url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"missing-queue"}})
	if r.Status != 400 || !strings.Contains(string(r.Body), "<Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist for this wsdl version.</Message><Detail/>") {
		t.Fatalf("missing queue: %d %s", r.Status, r.Body)
	}
	r = s.sqsQuery(t, path, url.Values{"Action": {"SetQueueAttributes"}, "Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"99999"}})
	if r.Status != 400 || !strings.Contains(string(r.Body), "<Code>InvalidAttributeValue</Code>") {
		t.Fatalf("bad attribute: %d %s", r.Status, r.Body)
	}
	r = s.sqsQuery(t, path, url.Values{"Action": {"SendMessage"}, "MessageBody": {strings.Repeat("z", 1048577)}})
	if r.Status != 400 || !strings.Contains(string(r.Body), "<Code>InvalidParameterValue</Code>") {
		t.Fatalf("oversized: %d %s", r.Status, r.Body)
	}
	r = s.sqsQuery(t, "/", url.Values{"Action": {"NoSuchAction"}})
	if r.Status != 400 || !strings.Contains(string(r.Body), "<Code>InvalidAction</Code>") {
		t.Fatalf("unknown action: %d %s", r.Status, r.Body)
	}
}

func TestSQSBoto3(t *testing.T) {
	s := sharedServer(t)
	name := uniqueName("boto")
	doc := s.boto3(t, `
name = '`+name+`'
url = sqs.create_queue(QueueName=name, Attributes={'VisibilityTimeout': '30'})['QueueUrl']
sent = sqs.send_message(QueueUrl=url, MessageBody='from boto3', MessageAttributes={'k': {'DataType': 'String', 'StringValue': 'v'}})
got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MessageAttributeNames=['All'], AttributeNames=['All'])
m = got['Messages'][0]
sqs.delete_message(QueueUrl=url, ReceiptHandle=m['ReceiptHandle'])
try:
    sqs.get_queue_url(QueueName='missing-queue')
    err = None
except botocore.exceptions.ClientError as e:
    err = e.response['Error']['Code']
    exc = type(e).__name__
print(json.dumps({'url': url, 'body': m['Body'], 'md5': m['MD5OfMessageAttributes'], 'sent_md5': sent['MD5OfMessageAttributes'],
    'attr': m['MessageAttributes']['k']['StringValue'], 'count': m['Attributes']['ApproximateReceiveCount'], 'err': err, 'exc': exc,
    'protocol': sqs.meta.service_model.protocol}))
`)
	if doc["body"] != "from boto3" || doc["md5"] != doc["sent_md5"] || doc["attr"] != "v" || doc["count"] != "1" ||
		doc["url"] != s.url()+"/"+accountID+"/"+name {
		t.Fatalf("boto3: %v", doc)
	}
	if doc["err"] != "AWS.SimpleQueueService.NonExistentQueue" && doc["err"] != "QueueDoesNotExist" {
		t.Fatalf("boto3 error code: %v", doc)
	}
	t.Logf("boto3 spoke %v; error %v (%v)", doc["protocol"], doc["err"], doc["exc"])
}

// TestSQSDurability: acknowledged sends survive kill -9.
func TestSQSDurability(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOptions{dataDir: dir})
	c := s.sqsClient()
	ctx := ctxT(t)
	_, q := createQueue(t, c, "durable", nil)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(fmt.Sprint("m", i))})
			errs <- err
		}()
		if i%20 == 19 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// One delayed message too: its schedule must survive as well.
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("delayed"), DelaySeconds: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	s2 := startServer(t, serverOptions{dataDir: dir})
	c2 := s2.sqsClient()
	q2 := s2.url() + "/" + accountID + "/" + q[strings.LastIndexByte(q, '/')+1:]
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < n+1 && time.Now().Before(deadline) {
		out, err := c2.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q2), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		var entries []types.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			seen[aws.ToString(m.Body)] = true
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if len(entries) > 0 {
			if _, err := c2.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(q2), Entries: entries}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != n+1 {
		var missing []string
		for i := range n {
			if !seen[fmt.Sprint("m", i)] {
				missing = append(missing, fmt.Sprint("m", i))
			}
		}
		sort.Strings(missing)
		t.Fatalf("after kill -9: %d of %d messages (delayed seen: %v), missing %v", len(seen), n+1, seen["delayed"], missing)
	}
}

func TestSQSDeadLetterSources(t *testing.T) {
	s := sharedServer(t)
	c := s.sqsClient()
	ctx := ctxT(t)
	dlqName, dlq := createQueue(t, c, "dls", nil)
	_, src := createQueue(t, c, "dls-src", map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:%s","maxReceiveCount":"3"}`, region, accountID, dlqName)})
	out, err := c.ListDeadLetterSourceQueues(ctx, &awssqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(dlq)})
	if err != nil || len(out.QueueUrls) != 1 || out.QueueUrls[0] != src {
		t.Fatalf("sources: %v %v", err, out)
	}
	a, _ := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(src), AttributeNames: []types.QueueAttributeName{"RedrivePolicy"}})
	if want := fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:%s","maxReceiveCount":3}`, region, accountID, dlqName); a.Attributes["RedrivePolicy"] != want {
		t.Fatalf("RedrivePolicy %s, want %s", a.Attributes["RedrivePolicy"], want)
	}
	_, err = c.AddPermission(ctx, &awssqs.AddPermissionInput{QueueUrl: aws.String(dlq), Label: aws.String("x"), AWSAccountIds: []string{accountID}, Actions: []string{"SendMessage"}})
	if code := sqsErrorCode(err); code != "AWS.SimpleQueueService.UnsupportedOperation" && code != "UnsupportedOperation" {
		t.Fatalf("AddPermission: %v", err)
	}
}
