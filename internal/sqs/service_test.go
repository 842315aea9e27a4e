package sqs

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/store"
)

func openTest(t *testing.T, dir string) (*Service, *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Config{JetStream: st.JetStream(), Region: "us-east-1", AccountID: "123456789012"})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return s, st
}

func newTest(t *testing.T) *Service {
	s, st := openTest(t, t.TempDir())
	t.Cleanup(func() { s.Close(); st.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func i32(n int32) *int32   { return &n }
func str(s string) *string { return &s }

func receive(t *testing.T, s *Service, in *ReceiveMessageInput) []Message {
	t.Helper()
	ms, err := s.ReceiveMessage(ctxT(t), in)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return ms
}

func TestSendReceiveDelete(t *testing.T) {
	s := newTest(t)
	ctx := ctxT(t)
	if err := s.CreateQueue(ctx, "q1", nil, nil); err != nil {
		t.Fatal(err)
	}
	attrs := map[string]MessageAttributeValue{"a": {DataType: "String", StringValue: str("x")}}
	out, err := s.SendMessage(ctx, &SendMessageInput{QueueName: "q1", Body: "hello", MessageAttributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	if out.MD5OfMessageBody != "5d41402abc4b2a76b9719d911017c592" {
		t.Fatalf("md5 %s", out.MD5OfMessageBody)
	}
	ms := receive(t, s, &ReceiveMessageInput{QueueName: "q1", MaxNumberOfMessages: 10, AttributeNames: []string{"All"}, MessageAttributeNames: []string{"All"}})
	if len(ms) != 1 || ms[0].Body != "hello" || ms[0].MessageId != out.MessageId || ms[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("got %+v", ms)
	}
	if ms[0].MD5OfMessageAttributes != out.MD5OfMessageAttributes || out.MD5OfMessageAttributes == "" {
		t.Fatalf("attr md5 %q vs %q", ms[0].MD5OfMessageAttributes, out.MD5OfMessageAttributes)
	}
	if again := receive(t, s, &ReceiveMessageInput{QueueName: "q1"}); len(again) != 0 {
		t.Fatalf("in flight message received again: %+v", again)
	}
	a, err := s.GetQueueAttributes(ctx, "q1", []string{"All"})
	if err != nil {
		t.Fatal(err)
	}
	if a[AttrApproximateNumberOfMessagesNotVisible] != "1" || a[AttrApproximateNumberOfMessages] != "0" {
		t.Fatalf("attrs %v", a)
	}
	if err := s.DeleteMessage(ctx, "q1", ms[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMessage(ctx, "q1", ms[0].ReceiptHandle+"x"); AsError(err).Code != "ReceiptHandleIsInvalid" {
		t.Fatalf("forged handle: %v", err)
	}
	// Deleting again succeeds; changing a deleted message's visibility does not.
	if err := s.DeleteMessage(ctx, "q1", ms[0].ReceiptHandle); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.ChangeMessageVisibility(ctx, "q1", ms[0].ReceiptHandle, 5); AsError(err).Code != "InvalidParameterValueException" {
		t.Fatalf("visibility of a deleted message: %v", err)
	}
	a, _ = s.GetQueueAttributes(ctx, "q1", []string{"All"})
	if a[AttrApproximateNumberOfMessagesNotVisible] != "0" {
		t.Fatalf("attrs after delete %v", a)
	}
}

func TestVisibilityAndRedrive(t *testing.T) {
	s := newTest(t)
	ctx := ctxT(t)
	if err := s.CreateQueue(ctx, "dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	rp := fmt.Sprintf(`{"deadLetterTargetArn":"%s","maxReceiveCount":"2"}`, s.QueueARN("dlq"))
	if err := s.CreateQueue(ctx, "src", map[string]string{AttrRedrivePolicy: rp}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendMessage(ctx, &SendMessageInput{QueueName: "src", Body: "m"}); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		ms := receive(t, s, &ReceiveMessageInput{QueueName: "src", VisibilityTimeout: i32(1), WaitTimeSeconds: i32(5), AttributeNames: []string{"ApproximateReceiveCount"}})
		if len(ms) != 1 || ms[0].Attributes["ApproximateReceiveCount"] != fmt.Sprint(want) {
			t.Fatalf("receive %d: %+v", want, ms)
		}
	}
	// Third delivery: moved.
	start := time.Now()
	if ms := receive(t, s, &ReceiveMessageInput{QueueName: "src", WaitTimeSeconds: i32(3)}); len(ms) != 0 {
		t.Fatalf("moved message received: %+v", ms)
	}
	ms := receive(t, s, &ReceiveMessageInput{QueueName: "dlq", WaitTimeSeconds: i32(2), AttributeNames: []string{"All"}})
	if len(ms) != 1 || ms[0].Body != "m" || ms[0].Attributes["DeadLetterQueueSourceArn"] != s.QueueARN("src") {
		t.Fatalf("dlq: %+v (after %v)", ms, time.Since(start))
	}
	// ChangeMessageVisibility 0 makes it visible at once.
	if err := s.ChangeMessageVisibility(ctx, "dlq", ms[0].ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	ms = receive(t, s, &ReceiveMessageInput{QueueName: "dlq", WaitTimeSeconds: i32(2), AttributeNames: []string{"ApproximateReceiveCount"}})
	if len(ms) != 1 || ms[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after visibility 0: %+v", ms)
	}
}

func TestDelayAndLongPoll(t *testing.T) {
	s := newTest(t)
	ctx := ctxT(t)
	if err := s.CreateQueue(ctx, "d", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendMessage(ctx, &SendMessageInput{QueueName: "d", Body: "later", DelaySeconds: i32(2)}); err != nil {
		t.Fatal(err)
	}
	a, _ := s.GetQueueAttributes(ctx, "d", []string{AttrApproximateNumberOfMessagesDelayed, AttrApproximateNumberOfMessages})
	if a[AttrApproximateNumberOfMessagesDelayed] != "1" || a[AttrApproximateNumberOfMessages] != "0" {
		t.Fatalf("counts %v", a)
	}
	if ms := receive(t, s, &ReceiveMessageInput{QueueName: "d"}); len(ms) != 0 {
		t.Fatalf("delayed message visible at once")
	}
	start := time.Now()
	ms := receive(t, s, &ReceiveMessageInput{QueueName: "d", WaitTimeSeconds: i32(10), AttributeNames: []string{"ApproximateReceiveCount"}})
	el := time.Since(start)
	if len(ms) != 1 || ms[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("delayed: %+v", ms)
	}
	if el < time.Second || el > 5*time.Second {
		t.Fatalf("delayed message arrived after %v", el)
	}
	start = time.Now()
	if ms := receive(t, s, &ReceiveMessageInput{QueueName: "d", WaitTimeSeconds: i32(1)}); len(ms) != 0 {
		t.Fatal("empty queue gave a message")
	}
	if el := time.Since(start); el < 900*time.Millisecond || el > 3*time.Second {
		t.Fatalf("empty long poll took %v", el)
	}
}

func TestFIFO(t *testing.T) {
	s := newTest(t)
	ctx := ctxT(t)
	if err := s.CreateQueue(ctx, "f.fifo", map[string]string{AttrFifoQueue: "true"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendMessage(ctx, &SendMessageInput{QueueName: "f.fifo", Body: "x"}); AsError(err).Code != "MissingRequiredParameterException" {
		t.Fatalf("no group: %v", err)
	}
	var ids []string
	for i := range 3 {
		out, err := s.SendMessage(ctx, &SendMessageInput{QueueName: "f.fifo", Body: fmt.Sprint(i), MessageGroupId: str("g"), MessageDeduplicationId: str(fmt.Sprint("d", i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.MessageId)
	}
	dup, err := s.SendMessage(ctx, &SendMessageInput{QueueName: "f.fifo", Body: "0 again", MessageGroupId: str("g"), MessageDeduplicationId: str("d0")})
	if err != nil || dup.MessageId != ids[0] {
		t.Fatalf("dedupe: %v %+v", err, dup)
	}
	var got []string
	for range 3 {
		// A long poll: the previous message's delete lets the next one go, and a
		// short poll right after it may sample the queue before that (as SQS's
		// short polls may).
		ms := receive(t, s, &ReceiveMessageInput{QueueName: "f.fifo", MaxNumberOfMessages: 10, WaitTimeSeconds: i32(5)})
		if len(ms) == 0 {
			t.Fatal("nothing received")
		}
		// While it is in flight nothing later of the group comes.
		if more := receive(t, s, &ReceiveMessageInput{QueueName: "f.fifo"}); len(more) != 0 {
			t.Fatalf("later message while one is in flight: %+v", more)
		}
		for _, m := range ms {
			got = append(got, m.Body)
			if err := s.DeleteMessage(ctx, "f.fifo", m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
	}
	if strings.Join(got, ",") != "0,1,2" {
		t.Fatalf("order %v", got)
	}
}

func TestDurableAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s, st := openTest(t, dir)
	ctx := ctxT(t)
	if err := s.CreateQueue(ctx, "keep", nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := s.SendMessage(ctx, &SendMessageInput{QueueName: "keep", Body: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SendMessage(ctx, &SendMessageInput{QueueName: "keep", Body: "delayed", DelaySeconds: i32(1)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	st.Close()
	s, st = openTest(t, dir)
	defer func() { s.Close(); st.Close() }()
	seen := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 21 && time.Now().Before(deadline) {
		for _, m := range receive(t, s, &ReceiveMessageInput{QueueName: "keep", MaxNumberOfMessages: 10, WaitTimeSeconds: i32(1)}) {
			seen[m.Body] = true
			if err := s.DeleteMessage(ctx, "keep", m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != 21 {
		t.Fatalf("after restart got %d of 21", len(seen))
	}
}

func TestCreateQueueIdempotence(t *testing.T) {
	s := newTest(t)
	ctx := ctxT(t)
	if err := s.CreateQueue(ctx, "c", map[string]string{AttrVisibilityTimeout: "10"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateQueue(ctx, "c", map[string]string{AttrVisibilityTimeout: "10"}, nil); err != nil {
		t.Fatalf("same attributes: %v", err)
	}
	if err := s.CreateQueue(ctx, "c", map[string]string{AttrVisibilityTimeout: "11"}, nil); AsError(err).Code != "QueueNameExists" {
		t.Fatalf("different attributes: %v", err)
	}
	if err := s.CreateQueue(ctx, "bad name", nil, nil); AsError(err).Code != "InvalidParameterValueException" {
		t.Fatalf("bad name: %v", err)
	}
	if err := s.CreateQueue(ctx, "c2", map[string]string{AttrVisibilityTimeout: "43201"}, nil); AsError(err).Code != "InvalidAttributeValue" {
		t.Fatalf("bad attribute: %v", err)
	}
	if err := s.SetQueueAttributes(ctx, "c", map[string]string{AttrMessageRetentionPeriod: "120", AttrVisibilityTimeout: "0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeQueue(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	// One purge a minute, as on SQS.
	if err := s.PurgeQueue(ctx, "c"); AsError(err).QueryCode != "AWS.SimpleQueueService.PurgeQueueInProgress" || AsError(err).Status != 403 {
		t.Fatalf("second purge: %v", err)
	}
	if err := s.DeleteQueue(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if s.QueueExists("c") {
		t.Fatal("deleted queue exists")
	}
	// Its name stays unused for a minute.
	if err := s.CreateQueue(ctx, "c", nil, nil); AsError(err).Code != "QueueDeletedRecently" {
		t.Fatalf("re-created at once: %v", err)
	}
}

// TestTwoNodes: two services on one JetStream, as two Hearth nodes on one NATS
// cluster: a queue created on one is used at once on the other, and a receipt handle
// from one deletes on the other.
func TestTwoNodes(t *testing.T) {
	a, st := openTest(t, t.TempDir())
	defer func() { a.Close(); st.Close() }()
	ctx := ctxT(t)
	b, err := Open(ctx, Config{JetStream: st.JetStream(), Region: "us-east-1", AccountID: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.CreateQueue(ctx, "shared", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SendMessage(ctx, &SendMessageInput{QueueName: "shared", Body: "x"}); err != nil {
		t.Fatalf("send on the other node: %v", err)
	}
	ms := receive(t, a, &ReceiveMessageInput{QueueName: "shared", WaitTimeSeconds: i32(2)})
	if len(ms) != 1 {
		t.Fatalf("got %d", len(ms))
	}
	if err := b.DeleteMessage(ctx, "shared", ms[0].ReceiptHandle); err != nil {
		t.Fatalf("delete on the other node: %v", err)
	}
	if err := b.DeleteQueue(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.QueueExists("shared") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if a.QueueExists("shared") {
		t.Fatal("the other node still sees the deleted queue")
	}
}

// TestCloseEndsLongPolls: a node's shutdown does not wait out a 20 s receive.
func TestCloseEndsLongPolls(t *testing.T) {
	s, st := openTest(t, t.TempDir())
	defer st.Close()
	ctx := ctxT(t)
	if err := s.CreateQueue(ctx, "idle", nil, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.ReceiveMessage(ctx, &ReceiveMessageInput{QueueName: "idle", WaitTimeSeconds: i32(20)})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the poll start; not an assertion
	start := time.Now()
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("receive ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll outlived Close by 5 s")
	}
	t.Logf("long poll ended %v after Close", time.Since(start))
	s.Close() // a second Close does nothing
}
