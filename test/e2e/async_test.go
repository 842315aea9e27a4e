package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Asynchronous invocation end to end: Event invokes through aws-sdk-go-v2 against a
// running hearth serve, python functions that report what they see to Hearth's own
// SQS queues with the bundled boto3, and the records and dead letters read back
// with aws-sdk-go-v2's SQS client. Delays run at 1/100 of Lambda's
// (--async-delay-scale 0.01): 1 min → 0.6 s, 60 s of event age → 0.6 s.

// asyncFn reports each invocation to the queue in RECORD_QUEUE (when set) and then
// does what event["action"] says.
const asyncFn = `import json, os, time
import boto3

sqs = boto3.client("sqs")


def lambda_handler(event, context):
    action = event.get("action", "ok") if isinstance(event, dict) else "ok"
    q = os.environ.get("RECORD_QUEUE")
    rec = {"requestId": context.aws_request_id, "function": context.function_name,
           "start": time.time(), "event": event, "trace": os.environ.get("_X_AMZN_TRACE_ID", "")}
    if action == "sleep":
        time.sleep(event.get("seconds", 1))
        rec["end"] = time.time()
    if q:
        sqs.send_message(QueueUrl=q, MessageBody=json.dumps(rec))
    loop = os.environ.get("LOOP_QUEUE")
    if loop and isinstance(event, dict):
        for r in event.get("Records", []):
            sqs.send_message(QueueUrl=loop, MessageBody=r["body"])
    if action == "fail":
        raise Exception("boom %s" % event.get("n"))
    return {"ok": True, "n": event.get("n") if isinstance(event, dict) else None}
`

var kindAsync = fnKind{short: "as", runtime: types.RuntimePython312, handler: "lambda_function.lambda_handler",
	zip: func(t testing.TB) []byte { return makeZip(t, zipFile{Name: "lambda_function.py", Body: asyncFn}) }}

// asyncServer starts a namespace-driver server with scaled async delays.
func asyncServer(t *testing.T, extra ...string) *server {
	requireSandboxHost(t, "namespace")
	return startSandboxServer(t, "namespace", append([]string{"--async-delay-scale", "0.01", "--async-ack-wait", "2s"}, extra...)...)
}

// queueWithARN creates a queue with a unique name (and the attributes given) and
// returns its URL and ARN.
func queueWithARN(t testing.TB, s *server, prefix string, attrs map[string]string) (url, arn string) {
	t.Helper()
	c := s.sqsRetryingClient()
	_, url = createQueue(t, c, prefix, attrs)
	out, err := c.GetQueueAttributes(ctxT(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	return url, out.Attributes["QueueArn"]
}

// drainQueue receives (and deletes) messages from url until want of them arrived
// or timeout passed.
func drainQueue(t testing.TB, s *server, url string, want int, timeout time.Duration) []sqstypes.Message {
	t.Helper()
	c := s.sqsRetryingClient()
	var got []sqstypes.Message
	deadline := time.Now().Add(timeout)
	for len(got) < want && time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(ctxT(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		got = append(got, out.Messages...)
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := c.DeleteMessageBatch(ctxT(t), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
			t.Fatalf("DeleteMessageBatch: %v", err)
		}
	}
	return got
}

// invocationReport is what asyncFn sends to RECORD_QUEUE.
type invocationReport struct {
	RequestID string          `json:"requestId"`
	Function  string          `json:"function"`
	Start     float64         `json:"start"`
	End       float64         `json:"end"`
	Event     json.RawMessage `json:"event"`
	Trace     string          `json:"trace"`
}

func reportsOf(t testing.TB, msgs []sqstypes.Message) []invocationReport {
	t.Helper()
	out := make([]invocationReport, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &out[i]); err != nil {
			t.Fatalf("report %q: %v", aws.ToString(m.Body), err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// destinationRecord is Lambda's invocation record.
type destinationRecord struct {
	Version        string `json:"version"`
	Timestamp      string `json:"timestamp"`
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponseContext *struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext"`
	ResponsePayload json.RawMessage `json:"responsePayload"`
}

func recordOf(t testing.TB, body string) destinationRecord {
	t.Helper()
	var r destinationRecord
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("record %q: %v", body, err)
	}
	return r
}

// invokeEvent sends an Event invoke and returns the request id of its 202.
func invokeEvent(t testing.TB, c *lambda.Client, fn string, payload string, qualifier ...string) string {
	t.Helper()
	in := &lambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: types.InvocationTypeEvent, Payload: []byte(payload)}
	if len(qualifier) > 0 {
		in.Qualifier = aws.String(qualifier[0])
	}
	out, err := c.Invoke(ctxT(t), in)
	if err != nil {
		t.Fatalf("Invoke Event %s: %v", fn, err)
	}
	if out.StatusCode != http.StatusAccepted || len(out.Payload) != 0 {
		t.Fatalf("Invoke Event: status %d, payload %q; want 202 and nothing", out.StatusCode, out.Payload)
	}
	id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if !ok || id == "" {
		t.Fatal("the 202 has no request id")
	}
	return id
}

func withRecordQueue(url string) func(*lambda.CreateFunctionInput) {
	return func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"RECORD_QUEUE": url}}
	}
}

func putEventInvokeConfig(t testing.TB, c *lambda.Client, in *lambda.PutFunctionEventInvokeConfigInput) {
	t.Helper()
	if _, err := c.PutFunctionEventInvokeConfig(ctxT(t), in); err != nil {
		t.Fatalf("PutFunctionEventInvokeConfig: %v", err)
	}
}

func destinations(onSuccess, onFailure string) *types.DestinationConfig {
	d := &types.DestinationConfig{}
	if onSuccess != "" {
		d.OnSuccess = &types.OnSuccess{Destination: aws.String(onSuccess)}
	}
	if onFailure != "" {
		d.OnFailure = &types.OnFailure{Destination: aws.String(onFailure)}
	}
	return d
}

// TestAsyncRetriesDestinationsAndDeadLetters: a function error is retried twice,
// 1 and 2 (scaled) minutes apart, with the same request id; then the on-failure
// destination gets AWS's record and the dead-letter queue the event with its
// attributes. A success goes to the on-success destination, here another function
// invoked asynchronously with the record.
func TestAsyncRetriesDestinationsAndDeadLetters(t *testing.T) {
	t.Parallel()
	s := asyncServer(t)
	c := s.client()
	attemptsURL, _ := queueWithARN(t, s, "attempts", nil)
	failedURL, failedARN := queueWithARN(t, s, "failed", nil)
	dlqURL, dlqARN := queueWithARN(t, s, "dlq", nil)
	okURL, _ := queueWithARN(t, s, "ok", nil)

	receiver := deploy(t, s, kindAsync, withRecordQueue(okURL))
	fn := deploy(t, s, kindAsync, withRecordQueue(attemptsURL), func(in *lambda.CreateFunctionInput) {
		in.DeadLetterConfig = &types.DeadLetterConfig{TargetArn: aws.String(dlqARN)}
	})
	putEventInvokeConfig(t, c, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(fn),
		DestinationConfig: destinations(functionArn(receiver), failedARN)})

	id := invokeEvent(t, c, fn, `{"action":"fail","n":7}`)
	attempts := reportsOf(t, drainQueue(t, s, attemptsURL, 3, 60*time.Second))
	if len(attempts) != 3 {
		t.Fatalf("%d attempts; want 3 (the first and MaximumRetryAttempts 2)", len(attempts))
	}
	for _, a := range attempts {
		if a.RequestID != id {
			t.Fatalf("an attempt ran with request id %s; want the 202's %s on every attempt", a.RequestID, id)
		}
	}
	d1, d2 := attempts[1].Start-attempts[0].Start, attempts[2].Start-attempts[1].Start
	if d1 < 0.55 || d2 < 1.15 {
		t.Errorf("attempts %.2fs and %.2fs apart; want ≥0.6s and ≥1.2s (1 and 2 min at scale 0.01)", d1, d2)
	}

	failed := drainQueue(t, s, failedURL, 1, 30*time.Second)
	if len(failed) != 1 {
		t.Fatalf("%d failure records; want 1", len(failed))
	}
	body := aws.ToString(failed[0].Body)
	if !strings.HasPrefix(body, `{"version":"1.0","timestamp":"`) {
		t.Errorf("record %s: keys not in AWS's order", body)
	}
	r := recordOf(t, body)
	if r.RequestContext.RequestID != id || r.RequestContext.Condition != "RetriesExhausted" || r.RequestContext.ApproximateInvokeCount != 3 ||
		r.RequestContext.FunctionArn != functionArn(fn)+":$LATEST" || string(r.RequestPayload) != `{"action":"fail","n":7}` ||
		r.ResponseContext == nil || r.ResponseContext.StatusCode != 200 || r.ResponseContext.ExecutedVersion != "$LATEST" ||
		r.ResponseContext.FunctionError != "Unhandled" || !strings.Contains(string(r.ResponsePayload), `"errorMessage": "boom 7"`) && !strings.Contains(string(r.ResponsePayload), `"errorMessage":"boom 7"`) {
		t.Errorf("failure record %s", body)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", r.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", r.Timestamp, err)
	}

	dead := drainQueue(t, s, dlqURL, 1, 30*time.Second)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters; want 1", len(dead))
	}
	attr := func(name string) (string, string) {
		v := dead[0].MessageAttributes[name]
		return aws.ToString(v.DataType), aws.ToString(v.StringValue)
	}
	if b := aws.ToString(dead[0].Body); b != `{"action":"fail","n":7}` {
		t.Errorf("dead letter body %q; want the event as sent", b)
	}
	if typ, v := attr("RequestID"); typ != "String" || v != id {
		t.Errorf("RequestID attribute %s %q; want String %s", typ, v, id)
	}
	if typ, v := attr("ErrorCode"); typ != "Number" || v != "200" {
		t.Errorf("ErrorCode attribute %s %q; want Number 200", typ, v)
	}
	if typ, v := attr("ErrorMessage"); typ != "String" || v != "boom 7" {
		t.Errorf("ErrorMessage attribute %s %q; want String \"boom 7\"", typ, v)
	}

	// Success: the record reaches the receiver function, asynchronously.
	id2 := invokeEvent(t, c, fn, `{"n":8}`)
	got := reportsOf(t, drainQueue(t, s, okURL, 1, 60*time.Second))
	if len(got) != 1 {
		t.Fatalf("the on-success function got %d invocations; want 1", len(got))
	}
	sr := recordOf(t, string(got[0].Event))
	if sr.RequestContext.RequestID != id2 || sr.RequestContext.Condition != "Success" || sr.RequestContext.ApproximateInvokeCount != 1 ||
		sr.ResponseContext == nil || sr.ResponseContext.FunctionError != "" || string(sr.RequestPayload) != `{"n": 8}` && string(sr.RequestPayload) != `{"n":8}` ||
		!strings.Contains(string(sr.ResponsePayload), `"n"`) {
		t.Errorf("success record as the destination function got it: %s", got[0].Event)
	}
	if got[0].RequestID == id2 {
		t.Error("the destination's invocation reused the event's request id; it is an invocation of its own")
	}
}

// TestAsyncEventAgeLookahead is AWS's recorded behaviour: MaximumEventAgeInSeconds
// 60 with 2 retries runs once and fails at once with EventAgeExceeded (its first
// retry, a minute later, would be too old); 90 runs twice.
func TestAsyncEventAgeLookahead(t *testing.T) {
	t.Parallel()
	// At 1/20 of Lambda's delays: 60 s → 3 s, 90 s → 4.5 s, the first retry 3 s
	// after the first attempt. The functions are warmed first, so a cold start
	// does not eat the margin.
	requireSandboxHost(t, "namespace")
	s := startSandboxServer(t, "namespace", "--async-delay-scale", "0.05", "--async-ack-wait", "2s")
	c := s.client()
	for _, tc := range []struct {
		age, attempts int32
	}{{60, 1}, {90, 2}} {
		attemptsURL, _ := queueWithARN(t, s, "attempts", nil)
		failedURL, failedARN := queueWithARN(t, s, "failed", nil)
		fn := deploy(t, s, kindAsync, withRecordQueue(attemptsURL))
		s.invokeOK(t, fn, map[string]any{"warm": true}, invokeOpts{})
		drainQueue(t, s, attemptsURL, 1, 10*time.Second)
		putEventInvokeConfig(t, c, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(fn),
			MaximumEventAgeInSeconds: aws.Int32(tc.age), DestinationConfig: destinations("", failedARN)})
		id := invokeEvent(t, c, fn, `{"action":"fail"}`)
		failed := drainQueue(t, s, failedURL, 1, 60*time.Second)
		if len(failed) != 1 {
			t.Fatalf("age %d: %d failure records", tc.age, len(failed))
		}
		r := recordOf(t, aws.ToString(failed[0].Body))
		ran := drainQueue(t, s, attemptsURL, int(tc.attempts)+1, 3*time.Second)
		if r.RequestContext.RequestID != id || r.RequestContext.Condition != "EventAgeExceeded" || r.RequestContext.ApproximateInvokeCount != int(tc.attempts) || len(ran) != int(tc.attempts) {
			t.Errorf("age %d: record %+v after %d attempts; want EventAgeExceeded after %d", tc.age, r.RequestContext, len(ran), tc.attempts)
		}
	}
}

// TestAsyncThrottledEventsWait: with reserved concurrency 1, events queue up and
// run one at a time — none is dropped, none runs beside another. With reserved
// concurrency 0 they go to the failure destination at once, never running.
func TestAsyncThrottledEventsWait(t *testing.T) {
	t.Parallel()
	s := asyncServer(t)
	c := s.client()
	recURL, _ := queueWithARN(t, s, "rec", nil)
	failedURL, failedARN := queueWithARN(t, s, "failed", nil)
	fn := deploy(t, s, kindAsync, withRecordQueue(recURL))
	putEventInvokeConfig(t, c, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(fn), DestinationConfig: destinations("", failedARN)})
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(1)})
	ids := map[string]bool{}
	for i := range 5 {
		ids[invokeEvent(t, c, fn, fmt.Sprintf(`{"action":"sleep","seconds":0.5,"n":%d}`, i))] = true
	}
	reps := reportsOf(t, drainQueue(t, s, recURL, 5, 90*time.Second))
	if len(reps) != 5 {
		t.Fatalf("%d of 5 events ran", len(reps))
	}
	for i, r := range reps {
		if !ids[r.RequestID] {
			t.Errorf("ran %s, not one of the accepted events", r.RequestID)
		}
		if i > 0 && r.Start < reps[i-1].End-0.01 {
			t.Errorf("events %s and %s overlapped under reserved concurrency 1", reps[i-1].RequestID, r.RequestID)
		}
	}

	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(0)})
	id := invokeEvent(t, c, fn, `{"n":1}`)
	failed := drainQueue(t, s, failedURL, 1, 30*time.Second)
	if len(failed) != 1 {
		t.Fatalf("%d failure records under reserved concurrency 0", len(failed))
	}
	body := aws.ToString(failed[0].Body)
	r := recordOf(t, body)
	if r.RequestContext.RequestID != id || r.RequestContext.Condition != "ZeroReservedConcurrency" || r.RequestContext.ApproximateInvokeCount != 0 ||
		strings.Contains(body, "responseContext") || strings.Contains(body, "responsePayload") {
		t.Errorf("record %s; want ZeroReservedConcurrency, count 0, no response", body)
	}
	if ran := drainQueue(t, s, recURL, 1, time.Second); len(ran) != 0 {
		t.Errorf("the function ran under reserved concurrency 0")
	}
}

// TestAsyncRecursionStopsAt16: two functions whose on-success destinations are
// each other loop; Lambda's loop detection lets 16 invocations of the chain run
// and stops the 17th.
func TestAsyncRecursionStopsAt16(t *testing.T) {
	t.Parallel()
	s := asyncServer(t)
	c := s.client()
	recURL, _ := queueWithARN(t, s, "rec", nil)
	a := deploy(t, s, kindAsync, withRecordQueue(recURL))
	b := deploy(t, s, kindAsync, withRecordQueue(recURL))
	putEventInvokeConfig(t, c, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(a), DestinationConfig: destinations(functionArn(b), "")})
	putEventInvokeConfig(t, c, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(b), DestinationConfig: destinations(functionArn(a), "")})
	invokeEvent(t, c, a, `{"n":0}`)
	got := drainQueue(t, s, recURL, 16, 60*time.Second)
	// The 17th would come within a retry of the 16th; wait for it a while.
	got = append(got, drainQueue(t, s, recURL, 1, 3*time.Second)...)
	if len(got) != 16 {
		t.Fatalf("the loop ran %d invocations; want 16", len(got))
	}
	for i, r := range reportsOf(t, got) {
		if !strings.HasSuffix(r.Trace, fmt.Sprintf(":%d", i+1)) {
			t.Errorf("invocation %d has trace id %q; want Lineage …:%d", i+1, r.Trace, i+1)
		}
	}
	st := asyncStats(t, s)
	stopped := st[a].RecursiveLoopsStopped + st[b].RecursiveLoopsStopped
	if stopped != 1 {
		t.Errorf("%d loops stopped; want 1 (%+v %+v)", stopped, st[a], st[b])
	}
}

// asyncFunctionStats is one function's line of /_hearth/async.
type asyncFunctionStats struct {
	Function              string
	Stored                uint64
	Received              int64 `json:"AsyncEventsReceived"`
	Succeeded             int64
	Failed                map[string]int64
	Retried               int64
	Throttled             int64
	Dropped               int64 `json:"AsyncEventsDropped"`
	RecursiveLoopsStopped int64
}

func asyncStats(t testing.TB, s *server) map[string]asyncFunctionStats {
	t.Helper()
	r := s.raw(t, http.MethodGet, "/_hearth/async", nil, rawOptions{})
	if r.Status != http.StatusOK {
		t.Fatalf("GET /_hearth/async: %d %s", r.Status, r.Body)
	}
	var v struct{ Functions []asyncFunctionStats }
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("/_hearth/async: %v: %s", err, r.Body)
	}
	out := map[string]asyncFunctionStats{}
	for _, f := range v.Functions {
		out[f.Function] = f
	}
	return out
}

// TestAsyncPayloadLimit: an Event payload of 1 MB is accepted (Lambda's current
// limit), one byte more is refused with 413.
func TestAsyncPayloadLimit(t *testing.T) {
	t.Parallel()
	s := asyncServer(t)
	c := s.client()
	fn := deploy(t, s, kindAsync)
	big := `"` + strings.Repeat("x", 1<<20-2) + `"`
	if _, err := c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: types.InvocationTypeEvent, Payload: []byte(big)}); err != nil {
		t.Fatalf("a 1 MB Event payload: %v", err)
	}
	_, err := c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: types.InvocationTypeEvent, Payload: []byte(big + " ")})
	wantAPIError(t, err, "RequestEntityTooLargeException", http.StatusRequestEntityTooLarge, "1048576 bytes")
	_, err = c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(fn + "-nope"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)})
	wantAPIError(t, err, "ResourceNotFoundException", http.StatusNotFound)
}

// TestAsyncDurability: 10,000 Event invokes of a function that records each request
// id to a queue, with kill -9 of the server twice — once while the invokes are
// being sent, once while the events run. Every request id that got a 202 is
// recorded at least once; the duplicates (attempts cut short by a kill and run
// again) are counted and reported.
func TestAsyncDurability(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	const total = 10000
	dir := t.TempDir()
	args := []string{"--async-delay-scale", "0.01", "--async-ack-wait", "2s"}
	t.Cleanup(func() {
		if left := mountsUnder(dir); len(left) > 0 {
			t.Errorf("the servers stopped but left mounts in their data directory: %v", left)
			unmountAll(left)
		}
	})
	start := func() *server {
		return startServer(t, serverOptions{dataDir: dir, sandbox: "namespace", extraArgs: args})
	}
	var cur atomic.Pointer[server]
	cur.Store(start())
	s := cur.Load()
	recURL, _ := queueWithARN(t, s, "rec", nil)
	fn := deploy(t, s, kindAsync, withRecordQueue(recURL))
	// Eight at a time: the events queue up behind the reservation, as on Lambda.
	call(t, s.client().PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(8)})

	began := time.Now()
	var (
		mu       sync.Mutex
		accepted = make(map[string]bool, total)
		sent     atomic.Int64
	)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				for {
					s := cur.Load()
					out, err := s.client().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn),
						InvocationType: types.InvocationTypeEvent, Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))})
					if err == nil {
						id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
						mu.Lock()
						accepted[id] = true
						mu.Unlock()
						sent.Add(1)
						break
					}
					// The server is down (killed) or not yet back: this invoke was
					// not accepted; send it again.
					if time.Since(began) > 5*time.Minute {
						t.Errorf("Invoke kept failing: %v", err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		// Kill 1: while the invokes are being sent.
		for sent.Load() < total/3 && time.Since(began) < 5*time.Minute {
			time.Sleep(10 * time.Millisecond)
		}
		if err := cur.Load().kill(); err != nil {
			t.Errorf("kill -9: %v", err)
		}
		t.Logf("kill -9 after %d accepted invokes", sent.Load())
		cur.Store(start())
	}()
	for i := range total {
		next <- i
	}
	close(next)
	wg.Wait()
	<-killed
	t.Logf("%d Event invokes accepted in %v (one kill -9 among them)", len(accepted), time.Since(began).Round(time.Millisecond))

	// Kill 2: while the events run.
	recorded := map[string]int{}
	record := func(msgs []sqstypes.Message) {
		for _, r := range reportsOf(t, msgs) {
			recorded[r.RequestID]++
		}
	}
	record(drainQueue(t, cur.Load(), recURL, total/3, 5*time.Minute))
	if err := cur.Load().kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	t.Logf("kill -9 with %d of %d events recorded", len(recorded), total)
	cur.Store(start())

	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		missing := 0
		for id := range accepted {
			if recorded[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		record(drainQueue(t, cur.Load(), recURL, missing, 30*time.Second))
	}
	missing, dups := 0, 0
	for id := range accepted {
		switch n := recorded[id]; {
		case n == 0:
			missing++
		case n > 1:
			dups += n - 1
		}
	}
	extra := 0
	for id := range recorded {
		if !accepted[id] {
			extra++ // stored, but its 202 was lost to a kill: the caller retried it
		}
	}
	t.Logf("%d accepted events: %d recorded, %d missing, %d duplicate runs, %d recorded events whose 202 never arrived; %v in all",
		len(accepted), len(accepted)-missing, missing, dups, extra, time.Since(began).Round(time.Second))
	if missing > 0 {
		t.Fatalf("%d accepted events were never run", missing)
	}
}

// TestAsyncEventsOfADeletedFunctionAreDropped: events still queued when their
// function is deleted are dropped and counted, not retried forever.
func TestAsyncEventsOfADeletedFunctionAreDropped(t *testing.T) {
	t.Parallel()
	s := asyncServer(t)
	c := s.client()
	fn := deploy(t, s, kindAsync)
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(1)})
	for i := range 6 {
		invokeEvent(t, c, fn, fmt.Sprintf(`{"action":"sleep","seconds":1,"n":%d}`, i))
	}
	if _, err := c.DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(fn)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the deleted function's events dropped", func() error {
		st := asyncStats(t, s)[fn]
		if st.Stored != 0 || st.Dropped+st.Succeeded != 6 || st.Dropped < 3 {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
}

// TestAsyncInvokeAsync: the deprecated InvokeAsync goes through the same queue:
// 202 {"Status":202}, and the event runs; past 256 KB it is refused.
func TestAsyncInvokeAsync(t *testing.T) {
	t.Parallel()
	s := asyncServer(t)
	c := s.client()
	recURL, _ := queueWithARN(t, s, "rec", nil)
	fn := deploy(t, s, kindAsync, withRecordQueue(recURL))
	//lint:ignore SA1019 InvokeAsync is deprecated on AWS too; Hearth serves it for the callers that still use it.
	out, err := c.InvokeAsync(ctxT(t), &lambda.InvokeAsyncInput{FunctionName: aws.String(fn), InvokeArgs: strings.NewReader(`{"n":5}`)})
	if err != nil || out.Status != http.StatusAccepted {
		t.Fatalf("InvokeAsync: %+v, %v", out, err)
	}
	got := reportsOf(t, drainQueue(t, s, recURL, 1, 30*time.Second))
	if len(got) != 1 || string(got[0].Event) != `{"n": 5}` {
		t.Fatalf("the function got %+v", got)
	}
	_, err = c.InvokeAsync(ctxT(t), &lambda.InvokeAsyncInput{FunctionName: aws.String(fn), InvokeArgs: strings.NewReader(`"` + strings.Repeat("x", 256*1024) + `"`)})
	wantAPIError(t, err, "RequestEntityTooLargeException", http.StatusRequestEntityTooLarge, "InvokeAsync")
}

// TestAsyncRecursionThroughAQueue: a function that sends what it gets back to the
// queue its event source mapping reads loops; the trace id's Lineage rides through
// the queue (the bundled boto3 sends it, SQS keeps it as AWSTraceHeader, the
// mapping passes it on), and the chain stops at Lambda's 16 invocations.
func TestAsyncRecursionThroughAQueue(t *testing.T) {
	t.Parallel()
	s := asyncServer(t)
	recURL, _ := queueWithARN(t, s, "rec", nil)
	loopURL, loopARN := queueWithARN(t, s, "loop", map[string]string{"VisibilityTimeout": "5"})
	fn := deploy(t, s, kindAsync, func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"RECORD_QUEUE": recURL, "LOOP_QUEUE": loopURL}}
	})
	createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(loopARN), FunctionName: aws.String(fn), BatchSize: aws.Int32(1)})
	if _, err := s.sqsRetryingClient().SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: aws.String(loopURL), MessageBody: aws.String("around")}); err != nil {
		t.Fatal(err)
	}
	got := drainQueue(t, s, recURL, 16, 90*time.Second)
	got = append(got, drainQueue(t, s, recURL, 1, 4*time.Second)...)
	if len(got) != 16 {
		t.Fatalf("the loop ran %d invocations; want 16", len(got))
	}
	for i, r := range reportsOf(t, got) {
		if !strings.HasSuffix(r.Trace, fmt.Sprintf(":%d", i+1)) {
			t.Errorf("invocation %d has trace id %q; want Lineage …:%d", i+1, r.Trace, i+1)
		}
	}
}
