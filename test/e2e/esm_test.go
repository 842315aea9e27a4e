package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Event source mappings end to end: a real hearth serve, mappings made with
// aws-sdk-go-v2's Lambda client, messages sent with its SQS client, and a python
// function that reports each batch it gets to a second queue (boto3, through
// AWS_ENDPOINT_URL_SQS), from which the test reads what Lambda handed it.

// esmFn reports every invocation to RECORD_QUEUE. MODE "ids" reports only the
// message ids (the durability test); otherwise the whole event. A record whose body
// contains "fail" is reported as a batch item failure, "crash" raises.
const esmFn = `import json, os, time
import boto3

sqs = boto3.client("sqs")


def lambda_handler(event, context):
    recs = event.get("Records", [])
    q = os.environ.get("RECORD_QUEUE")
    if q:
        if os.environ.get("MODE") == "ids":
            body = json.dumps([r["messageId"] for r in recs])
        else:
            body = json.dumps({"start": time.time(), "requestId": context.aws_request_id, "event": event,
                               "trace": os.environ.get("_X_AMZN_TRACE_ID", "")})
        sqs.send_message(QueueUrl=q, MessageBody=body)
    failures = []
    for r in recs:
        if "crash" in r.get("body", ""):
            raise Exception("crash requested")
        if "fail" in r.get("body", ""):
            failures.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failures}
`

var kindESM = fnKind{short: "esm", runtime: types.RuntimePython312, handler: "lambda_function.lambda_handler",
	zip: func(t testing.TB) []byte { return makeZip(t, zipFile{Name: "lambda_function.py", Body: esmFn}) }}

func esmSend(t testing.TB, s *server, url string, bodies ...string) {
	t.Helper()
	c := s.sqsRetryingClient()
	for i := 0; i < len(bodies); i += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, len(bodies)); j++ {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(bodies[j])})
		}
		out, err := c.SendMessageBatch(ctxT(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			t.Fatalf("SendMessageBatch: %v", err)
		}
		if len(out.Failed) > 0 {
			t.Fatalf("SendMessageBatch failed entries: %s", jsonOf(t, out.Failed))
		}
	}
}

// esmReport is what esmFn sends (MODE unset).
type esmReport struct {
	Start     float64 `json:"start"`
	RequestID string  `json:"requestId"`
	Trace     string  `json:"trace"`
	Event     struct {
		Records []json.RawMessage `json:"Records"`
	} `json:"event"`
}

type sqsRecord struct {
	MessageID         string                     `json:"messageId"`
	ReceiptHandle     string                     `json:"receiptHandle"`
	Body              string                     `json:"body"`
	Attributes        map[string]string          `json:"attributes"`
	MessageAttributes map[string]json.RawMessage `json:"messageAttributes"`
	MD5OfBody         string                     `json:"md5OfBody"`
	MD5OfAttributes   *string                    `json:"md5OfMessageAttributes"`
	EventSource       string                     `json:"eventSource"`
	EventSourceARN    string                     `json:"eventSourceARN"`
	AWSRegion         string                     `json:"awsRegion"`
}

func esmReports(t testing.TB, msgs []sqstypes.Message) []esmReport {
	t.Helper()
	out := make([]esmReport, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &out[i]); err != nil {
			t.Fatalf("report %q: %v", aws.ToString(m.Body), err)
		}
	}
	return out
}

func recordsOf(t testing.TB, reports []esmReport) []sqsRecord {
	t.Helper()
	var out []sqsRecord
	for _, r := range reports {
		for _, raw := range r.Event.Records {
			var rec sqsRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			out = append(out, rec)
		}
	}
	return out
}

// deployESM deploys esmFn reporting to recordURL.
func deployESM(t testing.TB, s *server, recordURL string, env map[string]string) string {
	t.Helper()
	vars := map[string]string{"RECORD_QUEUE": recordURL}
	for k, v := range env {
		vars[k] = v
	}
	return deploy(t, s, kindESM, func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: vars}
		in.Timeout = aws.Int32(15)
	})
}

func createMapping(t testing.TB, s *server, in *lambda.CreateEventSourceMappingInput) *lambda.CreateEventSourceMappingOutput {
	t.Helper()
	out, err := s.client().CreateEventSourceMapping(ctxT(t), in)
	if err != nil {
		t.Fatalf("CreateEventSourceMapping: %v", err)
	}
	return out
}

func waitMappingState(t testing.TB, s *server, uuid, state string) {
	t.Helper()
	eventually(t, 10*time.Second, "mapping "+state, func() error {
		out, err := s.client().GetEventSourceMapping(ctxT(t), &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		if err != nil {
			return err
		}
		if aws.ToString(out.State) != state {
			return fmt.Errorf("state %s", aws.ToString(out.State))
		}
		return nil
	})
}

// queueCounts is ApproximateNumberOfMessages and …NotVisible.
func queueCounts(t testing.TB, s *server, url string) (visible, inflight string) {
	t.Helper()
	a, err := s.sqsRetryingClient().GetQueueAttributes(ctxT(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	return a.Attributes["ApproximateNumberOfMessages"], a.Attributes["ApproximateNumberOfMessagesNotVisible"]
}

// The API: shapes, states and every error, on a control-plane-only server.
func TestEventSourceMappingAPI(t *testing.T) {
	s := sharedServer(t)
	c := s.client()
	fn := uniqueName("esmapi")
	createFunction(t, c, fn)
	fn2 := uniqueName("esmapi2")
	createFunction(t, c, fn2)
	_, q1 := queueWithARN(t, s, "esmapi", nil)
	_, q2 := queueWithARN(t, s, "esmapi", nil)

	created := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q1), FunctionName: aws.String(fn)})
	uuid := aws.ToString(created.UUID)
	if aws.ToString(created.State) != "Creating" || aws.ToString(created.StateTransitionReason) != "USER_INITIATED" || aws.ToInt32(created.BatchSize) != 10 ||
		aws.ToInt32(created.MaximumBatchingWindowInSeconds) != 0 || aws.ToString(created.FunctionArn) != functionArn(fn) ||
		aws.ToString(created.EventSourceMappingArn) != "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:"+uuid ||
		aws.ToString(created.EventSourceArn) != q1 || created.LastModified == nil || time.Since(*created.LastModified) > time.Minute {
		t.Fatalf("create answered %s", jsonOf(t, created))
	}
	// The wire: 202, FunctionResponseTypes an empty list, LastModified a number.
	r := s.raw(t, http.MethodGet, "/2015-03-31/event-source-mappings/"+uuid, nil, rawOptions{})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"FunctionResponseTypes":[]`) || strings.Contains(string(r.Body), `"LastModified":"`) {
		t.Errorf("GET: %d %s", r.Status, r.Body)
	}
	waitMappingState(t, s, uuid, "Enabled")

	// Errors, as AWS answers them.
	_, err := c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q1), FunctionName: aws.String(functionArn(fn))})
	wantAPIError(t, err, "ResourceConflictException", 409, `An event source mapping with SQS arn (" `+q1+` ") and function (" `+fn+` ") already exists. Please update or delete the existing mapping with UUID `+uuid)
	_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q1), FunctionName: aws.String("doesnotexist")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Function does not exist")
	_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{FunctionName: aws.String(fn)})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Unrecognized event source.")
	_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:" + uniqueName("nope")), FunctionName: aws.String(fn)})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist.")
	_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q2), FunctionName: aws.String(fn), StartingPosition: types.EventSourcePositionLatest})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "StartingPosition is not valid for SQS event sources.")
	_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q2), FunctionName: aws.String(fn), BatchSize: aws.Int32(11)})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
	_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q2), FunctionName: aws.String(fn), BatchSize: aws.Int32(10001), MaximumBatchingWindowInSeconds: aws.Int32(1)})
	wantAPIError(t, err, "ValidationException", 400, "batchSize")
	_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q2), FunctionName: aws.String(fn), ScalingConfig: &types.ScalingConfig{MaximumConcurrency: aws.Int32(1)}})
	wantAPIError(t, err, "ValidationException", 400, "maximumConcurrency")
	_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q2), FunctionName: aws.String(fn),
		FilterCriteria: &types.FilterCriteria{Filters: []types.Filter{{Pattern: aws.String(`{"eventSource":"aws:sqs"}`)}}}})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Invalid filter pattern definition.")
	for _, src := range []string{"arn:aws:kinesis:us-east-1:000000000000:stream/s", "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000",
		"arn:aws:kafka:us-east-1:000000000000:cluster/c/0b1f", "arn:aws:mq:us-east-1:000000000000:broker:b:b-1"} {
		// With a StartingPosition: without one, streams get AWS's "must not be null" first.
		_, err = c.CreateEventSourceMapping(ctxT(t), &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(src), FunctionName: aws.String(fn), StartingPosition: types.EventSourcePositionLatest})
		wantAPIError(t, err, "InvalidParameterValueException", 400, "Hearth polls only its own SQS queues")
	}
	unknown := "6d3a5f7e-0000-4000-8000-000000000000"
	_, err = c.GetEventSourceMapping(ctxT(t), &lambda.GetEventSourceMappingInput{UUID: aws.String(unknown)})
	wantAPIError(t, err, "ResourceNotFoundException", 404, "The resource you requested does not exist.")
	_, err = c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: aws.String(unknown), Enabled: aws.Bool(false)})
	wantAPIError(t, err, "ResourceNotFoundException", 404, "The resource you requested does not exist.")
	_, err = c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: aws.String(unknown)})
	wantAPIError(t, err, "ResourceNotFoundException", 404, "The resource you requested does not exist.")
	_, err = c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: aws.String(uuid), BatchSize: aws.Int32(50)})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Maximum batch window in seconds must be greater than 0")

	// Update: settings, Disabling → Disabled, Enabling → Enabled.
	up, err := c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: aws.String(uuid), Enabled: aws.Bool(false), BatchSize: aws.Int32(50),
		MaximumBatchingWindowInSeconds: aws.Int32(2), FunctionResponseTypes: []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures},
		ScalingConfig:  &types.ScalingConfig{MaximumConcurrency: aws.Int32(4)},
		FilterCriteria: &types.FilterCriteria{Filters: []types.Filter{{Pattern: aws.String(`{"body":{"kind":["keep"]}}`)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.State) != "Disabling" || aws.ToInt32(up.BatchSize) != 50 || aws.ToInt32(up.ScalingConfig.MaximumConcurrency) != 4 ||
		len(up.FunctionResponseTypes) != 1 || len(up.FilterCriteria.Filters) != 1 {
		t.Fatalf("update answered %s", jsonOf(t, up))
	}
	waitMappingState(t, s, uuid, "Disabled")
	up, err = c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: aws.String(uuid), Enabled: aws.Bool(true)})
	if err != nil || aws.ToString(up.State) != "Enabling" {
		t.Fatalf("enable: %v %s", err, jsonOf(t, up))
	}
	waitMappingState(t, s, uuid, "Enabled")

	// List: by queue, by function, both, paged; filters naming nothing list nothing.
	second := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q2), FunctionName: aws.String(fn)})
	third := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(q2), FunctionName: aws.String(fn2)})
	count := func(in *lambda.ListEventSourceMappingsInput) int {
		out, err := c.ListEventSourceMappings(ctxT(t), in)
		if err != nil {
			t.Fatal(err)
		}
		return len(out.EventSourceMappings)
	}
	if n := count(&lambda.ListEventSourceMappingsInput{EventSourceArn: aws.String(q2)}); n != 2 {
		t.Errorf("by queue: %d, want 2", n)
	}
	if n := count(&lambda.ListEventSourceMappingsInput{FunctionName: aws.String(fn)}); n != 2 {
		t.Errorf("by function: %d, want 2", n)
	}
	if n := count(&lambda.ListEventSourceMappingsInput{FunctionName: aws.String(functionArn(fn2)), EventSourceArn: aws.String(q2)}); n != 1 {
		t.Errorf("by both: %d, want 1", n)
	}
	if n := count(&lambda.ListEventSourceMappingsInput{FunctionName: aws.String("doesnotexist")}); n != 0 {
		t.Errorf("unknown function: %d, want 0", n)
	}
	var paged []string
	p := lambda.NewListEventSourceMappingsPaginator(c, &lambda.ListEventSourceMappingsInput{EventSourceArn: aws.String(q2), MaxItems: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.EventSourceMappings {
			paged = append(paged, aws.ToString(m.UUID))
		}
	}
	if len(paged) != 2 {
		t.Errorf("paged by one: %v, want 2 mappings", paged)
	}

	// Tags on the mapping's ARN (Terraform reads them).
	arn := aws.ToString(created.EventSourceMappingArn)
	if _, err := c.TagResource(ctxT(t), &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"team": "a"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTags(ctxT(t), &lambda.ListTagsInput{Resource: aws.String(arn)})
	if err != nil || tags.Tags["team"] != "a" {
		t.Errorf("ListTags: %v %v", tags, err)
	}

	// Delete: 202 Deleting, then gone.
	del, err := c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: aws.String(uuid)})
	if err != nil || aws.ToString(del.State) != "Deleting" {
		t.Fatalf("delete: %v %s", err, jsonOf(t, del))
	}
	_, err = c.GetEventSourceMapping(ctxT(t), &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	for _, m := range []*lambda.CreateEventSourceMappingOutput{second, third} {
		if _, err := c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID}); err != nil {
			t.Fatal(err)
		}
	}
}

// Delivery: the event's shape, batching, partial batch failures into the redrive
// DLQ, filters, disable/enable and delete.
func TestEventSourceMappingDelivery(t *testing.T) {
	requireSandboxHost(t, "namespace")
	s := startSandboxServer(t, "namespace")
	c := s.client()
	recordURL, _ := queueWithARN(t, s, "esmrec", nil)
	fn := deployESM(t, s, recordURL, nil)

	t.Run("Shape", func(t *testing.T) {
		url, arn := queueWithARN(t, s, "esmshape", nil)
		m := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn), BatchSize: aws.Int32(1)})
		defer c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID})
		sent, err := s.sqsRetryingClient().SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"hello":"world"}`),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				"Author": {DataType: aws.String("String"), StringValue: aws.String("John Grisham")},
				"Blob":   {DataType: aws.String("Binary"), BinaryValue: []byte{1, 2, 3}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		reports := esmReports(t, drainQueue(t, s, recordURL, 1, 60*time.Second))
		if len(reports) != 1 || len(reports[0].Event.Records) != 1 {
			t.Fatalf("reports: %s", jsonOf(t, reports))
		}
		raw := string(reports[0].Event.Records[0])
		// Key order as Lambda sends it.
		last := -1
		for _, k := range []string{`"messageId"`, `"receiptHandle"`, `"body"`, `"attributes"`, `"ApproximateReceiveCount"`, `"SentTimestamp"`, `"SenderId"`,
			`"ApproximateFirstReceiveTimestamp"`, `"messageAttributes"`, `"md5OfMessageAttributes"`, `"md5OfBody"`, `"eventSource"`, `"eventSourceARN"`, `"awsRegion"`} {
			i := strings.Index(raw, k)
			if i <= last {
				t.Errorf("key %s out of Lambda's order in %s", k, raw)
			}
			last = i
		}
		var rec sqsRecord
		_ = json.Unmarshal(reports[0].Event.Records[0], &rec)
		if rec.MessageID != aws.ToString(sent.MessageId) || rec.Body != `{"hello":"world"}` || rec.MD5OfBody != aws.ToString(sent.MD5OfMessageBody) ||
			rec.MD5OfAttributes == nil || *rec.MD5OfAttributes != aws.ToString(sent.MD5OfMessageAttributes) || rec.EventSource != "aws:sqs" ||
			rec.EventSourceARN != arn || rec.AWSRegion != region || rec.ReceiptHandle == "" || rec.Attributes["ApproximateReceiveCount"] != "1" ||
			rec.Attributes["SenderId"] == "" || rec.Attributes["SentTimestamp"] == "" || len(rec.Attributes) != 4 {
			t.Errorf("record: %s", raw)
		}
		// The function re-serialized the event (python's json adds spaces): compare
		// compacted.
		compact := func(raw json.RawMessage) string {
			var b bytes.Buffer
			_ = json.Compact(&b, raw)
			return b.String()
		}
		if got := compact(rec.MessageAttributes["Author"]); got != `{"stringValue":"John Grisham","stringListValues":[],"binaryListValues":[],"dataType":"String"}` {
			t.Errorf("Author: %s", got)
		}
		if got := compact(rec.MessageAttributes["Blob"]); got != `{"binaryValue":"AQID","stringListValues":[],"binaryListValues":[],"dataType":"Binary"}` {
			t.Errorf("Blob: %s", got)
		}
		eventually(t, 10*time.Second, "the queue empty", func() error {
			if v, f := queueCounts(t, s, url); v != "0" || f != "0" {
				return fmt.Errorf("%s visible, %s in flight", v, f)
			}
			return nil
		})
	})

	// A message's AWSTraceHeader carries its request chain's Lineage into the
	// invocation, so a loop through queues is counted and stopped at Lambda's 16.
	t.Run("TraceLineage", func(t *testing.T) {
		url, arn := queueWithARN(t, s, "esmtrace", nil)
		m := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn), BatchSize: aws.Int32(1)})
		defer c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID})
		send := func(body string, lineage int) {
			_, err := s.sqsRetryingClient().SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
				MessageSystemAttributes: map[string]sqstypes.MessageSystemAttributeValue{"AWSTraceHeader": {DataType: aws.String("String"),
					StringValue: aws.String(fmt.Sprintf("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=a87bd80c:%d", lineage))}}})
			if err != nil {
				t.Fatal(err)
			}
		}
		send("third", 3)
		reps := esmReports(t, drainQueue(t, s, recordURL, 1, 60*time.Second))
		if len(reps) != 1 || !strings.Contains(reps[0].Trace, ":4") {
			t.Fatalf("the invocation's trace: %s; want Lineage …:4", jsonOf(t, reps))
		}
		if rec := recordsOf(t, reps); len(rec) != 1 || !strings.Contains(rec[0].Attributes["AWSTraceHeader"], "Lineage=a87bd80c:3") {
			t.Errorf("the record's AWSTraceHeader: %s", jsonOf(t, rec))
		}
		send("looping", 16)
		if got := drainQueue(t, s, recordURL, 1, 4*time.Second); len(got) != 0 {
			t.Fatalf("the 17th invocation of a chain ran: %s", jsonOf(t, got))
		}
	})

	t.Run("BatchSizeAndWindow", func(t *testing.T) {
		url, arn := queueWithARN(t, s, "esmbatch", nil)
		// Two workers, so two batches at most share 30 messages; the 3 s window
		// lets each fill past one receive's 10.
		m := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn), Enabled: aws.Bool(false),
			BatchSize: aws.Int32(20), MaximumBatchingWindowInSeconds: aws.Int32(3), ScalingConfig: &types.ScalingConfig{MaximumConcurrency: aws.Int32(2)}})
		defer c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID})
		bodies := make([]string, 30)
		for i := range bodies {
			bodies[i] = fmt.Sprint("b", i)
		}
		esmSend(t, s, url, bodies...)
		if _, err := c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		reports := esmReports(t, drainQueue(t, s, recordURL, 2, 60*time.Second))
		time.Sleep(4 * time.Second)
		reports = append(reports, esmReports(t, drainQueue(t, s, recordURL, 100, 2*time.Second))...)
		total, biggest := 0, 0
		for _, r := range reports {
			n := len(r.Event.Records)
			if n > 20 {
				t.Errorf("a batch of %d, BatchSize 20", n)
			}
			total += n
			biggest = max(biggest, n)
		}
		t.Logf("30 messages in %d batches, the biggest %d", len(reports), biggest)
		if total != 30 || biggest <= 10 {
			t.Errorf("%d records in %d batches (biggest %d); want 30, a batch above one receive's 10", total, len(reports), biggest)
		}
	})

	t.Run("PartialBatchFailureToDLQ", func(t *testing.T) {
		dlqURL, dlqArn := queueWithARN(t, s, "esmdlq", nil)
		url, arn := queueWithARN(t, s, "esmpart", map[string]string{"VisibilityTimeout": "2",
			"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"2"}`, dlqArn)})
		m := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn), Enabled: aws.Bool(false),
			BatchSize: aws.Int32(10), MaximumBatchingWindowInSeconds: aws.Int32(1), FunctionResponseTypes: []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures}})
		defer c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID})
		esmSend(t, s, url, "ok-1", "fail-2", "ok-3")
		if _, err := c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		// The failed item comes back once (ApproximateReceiveCount 2) and then,
		// past maxReceiveCount 2, goes to the DLQ.
		var recs []sqsRecord
		eventually(t, 60*time.Second, "the failed item received twice", func() error {
			recs = append(recs, recordsOf(t, esmReports(t, drainQueue(t, s, recordURL, 1, time.Second)))...)
			for _, r := range recs {
				if r.Body == "fail-2" && r.Attributes["ApproximateReceiveCount"] == "2" {
					return nil
				}
			}
			return fmt.Errorf("records so far: %d", len(recs))
		})
		dead := drainQueue(t, s, dlqURL, 1, 30*time.Second)
		if len(dead) != 1 || aws.ToString(dead[0].Body) != "fail-2" {
			t.Fatalf("DLQ has %s; want fail-2", jsonOf(t, dead))
		}
		recs = append(recs, recordsOf(t, esmReports(t, drainQueue(t, s, recordURL, 100, time.Second)))...)
		seen := map[string]int{}
		for _, r := range recs {
			seen[r.Body]++
		}
		if seen["ok-1"] != 1 || seen["ok-3"] != 1 || seen["fail-2"] != 2 {
			t.Errorf("invocations per message: %v; want ok-1 and ok-3 once, fail-2 twice", seen)
		}
		if v, f := queueCounts(t, s, url); v != "0" || f != "0" {
			t.Errorf("source queue: %s visible, %s in flight; want empty", v, f)
		}
	})

	t.Run("Filter", func(t *testing.T) {
		url, arn := queueWithARN(t, s, "esmfilter", nil)
		m := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn), Enabled: aws.Bool(false),
			BatchSize: aws.Int32(10), MaximumBatchingWindowInSeconds: aws.Int32(1),
			FilterCriteria: &types.FilterCriteria{Filters: []types.Filter{
				{Pattern: aws.String(`{"body":{"kind":["keep"],"n":[{"numeric":[">",10]}]}}`)},
				{Pattern: aws.String(`{"body":[{"prefix":"plain-keep"}]}`)},
			}}})
		defer c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID})
		esmSend(t, s, url, `{"kind":"keep","n":11}`, `{"kind":"keep","n":5}`, `{"kind":"drop","n":50}`, `plain-keep me`, `plain-drop`)
		if _, err := c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		var bodies []string
		eventually(t, 60*time.Second, "two matching records", func() error {
			for _, r := range recordsOf(t, esmReports(t, drainQueue(t, s, recordURL, 1, time.Second))) {
				bodies = append(bodies, r.Body)
			}
			if len(bodies) < 2 {
				return fmt.Errorf("got %v", bodies)
			}
			return nil
		})
		time.Sleep(2 * time.Second)
		for _, r := range recordsOf(t, esmReports(t, drainQueue(t, s, recordURL, 100, time.Second))) {
			bodies = append(bodies, r.Body)
		}
		if len(bodies) != 2 || !strings.Contains(strings.Join(bodies, "|"), `"n":11`) || !strings.Contains(strings.Join(bodies, "|"), "plain-keep me") {
			t.Errorf("the function got %q; want the two matching messages", bodies)
		}
		// What matched no filter was deleted, not left.
		eventually(t, 10*time.Second, "the queue empty", func() error {
			if v, f := queueCounts(t, s, url); v != "0" || f != "0" {
				return fmt.Errorf("%s visible, %s in flight", v, f)
			}
			return nil
		})
	})

	// A FIFO queue's messages arrive in order, with their FIFO attributes.
	t.Run("FIFO", func(t *testing.T) {
		fifoName := uniqueName("esmfifo") + ".fifo"
		out, err := s.sqsRetryingClient().CreateQueue(ctxT(t), &sqs.CreateQueueInput{QueueName: aws.String(fifoName), Attributes: map[string]string{"FifoQueue": "true"}})
		if err != nil {
			t.Fatal(err)
		}
		arn := "arn:aws:sqs:us-east-1:000000000000:" + fifoName
		m := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn), Enabled: aws.Bool(false)})
		defer c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID})
		for i := 1; i <= 3; i++ {
			if _, err := s.sqsRetryingClient().SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String(fmt.Sprint("f", i)),
				MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String(fmt.Sprint("d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		var recs []sqsRecord
		eventually(t, 60*time.Second, "three FIFO records", func() error {
			recs = append(recs, recordsOf(t, esmReports(t, drainQueue(t, s, recordURL, 1, time.Second)))...)
			if len(recs) < 3 {
				return fmt.Errorf("%d records", len(recs))
			}
			return nil
		})
		for i, r := range recs {
			if r.Body != fmt.Sprint("f", i+1) || r.Attributes["MessageGroupId"] != "g" || r.Attributes["MessageDeduplicationId"] != fmt.Sprint("d", i+1) || r.Attributes["SequenceNumber"] == "" {
				t.Errorf("record %d: %s", i, jsonOf(t, r))
			}
		}
	})

	// Lambda keeps a mapping whose function is deleted; it invokes nothing.
	t.Run("FunctionDeleted", func(t *testing.T) {
		url, arn := queueWithARN(t, s, "esmgone", nil)
		gone := deployESM(t, s, recordURL, nil)
		m := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(gone), BatchSize: aws.Int32(1)})
		defer c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID})
		if _, err := c.DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(gone)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		esmSend(t, s, url, "orphan")
		if got := drainQueue(t, s, recordURL, 1, 4*time.Second); len(got) != 0 {
			t.Fatalf("a mapping of a deleted function invoked: %s", jsonOf(t, got))
		}
		got, err := c.GetEventSourceMapping(ctxT(t), &lambda.GetEventSourceMappingInput{UUID: m.UUID})
		if err != nil || aws.ToString(got.FunctionArn) != functionArn(gone) {
			t.Fatalf("the mapping after its function's deletion: %v %s", err, jsonOf(t, got))
		}
		if v, f := queueCounts(t, s, url); v != "1" || f != "0" {
			t.Errorf("the message: %s visible, %s in flight; want it left visible", v, f)
		}
	})

	t.Run("DisableEnableDelete", func(t *testing.T) {
		url, arn := queueWithARN(t, s, "esmtoggle", nil)
		m := createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn), BatchSize: aws.Int32(1)})
		uuid := aws.ToString(m.UUID)
		esmSend(t, s, url, "first")
		if got := drainQueue(t, s, recordURL, 1, 60*time.Second); len(got) != 1 {
			t.Fatal("the enabled mapping did not invoke")
		}
		if _, err := c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(false)}); err != nil {
			t.Fatal(err)
		}
		waitMappingState(t, s, uuid, "Disabled")
		time.Sleep(time.Second) // a long poll under way when it was disabled ends
		esmSend(t, s, url, "while-disabled")
		if got := drainQueue(t, s, recordURL, 1, 4*time.Second); len(got) != 0 {
			t.Fatalf("a disabled mapping invoked: %s", jsonOf(t, got))
		}
		// Still in the queue (a receive under way when the mapping stopped may have
		// taken it and handed it back, which the counts show as in flight).
		if v, f := queueCounts(t, s, url); v+"/"+f != "1/0" && v+"/"+f != "0/1" {
			t.Errorf("%s visible, %s in flight while disabled; want the message in the queue", v, f)
		}
		if _, err := c.UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		got := recordsOf(t, esmReports(t, drainQueue(t, s, recordURL, 1, 60*time.Second)))
		if len(got) != 1 || got[0].Body != "while-disabled" {
			t.Fatalf("after enabling: %s", jsonOf(t, got))
		}
		if _, err := c.DeleteEventSourceMapping(ctxT(t), &lambda.DeleteEventSourceMappingInput{UUID: m.UUID}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		esmSend(t, s, url, "after-delete")
		if got := drainQueue(t, s, recordURL, 1, 4*time.Second); len(got) != 0 {
			t.Fatalf("a deleted mapping invoked: %s", jsonOf(t, got))
		}
	})
}

// The durability the issue asks for: 10,000 messages consumed by a mapping whose
// function records each message id to another queue, with the server killed -9
// twice while it runs. Every message must be recorded at least once; duplicates
// (batches whose function ran but whose delete the kill cut off) are counted.
func TestEventSourceMappingDurabilityKill9(t *testing.T) {
	requireSandboxHost(t, "namespace")
	const total = 10000
	dir := t.TempDir()
	opts := serverOptions{dataDir: dir, sandbox: "namespace"}
	s := startServer(t, opts)
	recordURL, _ := queueWithARN(t, s, "esmdurrec", nil)
	url, arn := queueWithARN(t, s, "esmdur", map[string]string{"VisibilityTimeout": "20"})
	fn := deployESM(t, s, recordURL, map[string]string{"MODE": "ids"})

	start := time.Now()
	sent := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < total; i += 10 {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var entries []sqstypes.SendMessageBatchRequestEntry
			for j := i; j < i+10; j++ {
				entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(fmt.Sprint("msg-", j))})
			}
			out, err := s.sqsRetryingClient().SendMessageBatch(ctxT(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
			if err != nil || len(out.Failed) > 0 {
				t.Errorf("SendMessageBatch: %v %v", err, out)
				return
			}
			mu.Lock()
			for _, e := range out.Successful {
				sent[aws.ToString(e.MessageId)] = true
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if t.Failed() || len(sent) != total {
		t.Fatalf("sent %d of %d", len(sent), total)
	}
	t.Logf("sent %d messages in %v", total, time.Since(start).Round(time.Millisecond))

	createMapping(t, s, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn),
		BatchSize: aws.Int32(10)})
	start = time.Now()

	seen := map[string]int{}
	records := 0
	collect := func(s *server, until func() bool, timeout time.Duration) {
		deadline := time.Now().Add(timeout)
		for !until() && time.Now().Before(deadline) {
			for _, m := range drainQueue(t, s, recordURL, 10, time.Second) {
				var ids []string
				if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ids); err != nil {
					t.Fatalf("record %q: %v", aws.ToString(m.Body), err)
				}
				records++
				for _, id := range ids {
					seen[id]++
				}
			}
		}
	}
	// Each kill comes while batches run: after 30 %, then after 30 % more were
	// recorded by the restarted server.
	for round := range 2 {
		target := len(seen) + 3*total/10
		collect(s, func() bool { return len(seen) >= target }, 5*time.Minute)
		t.Logf("kill -9 #%d at %d of %d recorded (%v)", round+1, len(seen), total, time.Since(start).Round(time.Millisecond))
		if err := s.kill(); err != nil {
			t.Fatalf("kill -9: %v", err)
		}
		s = startServer(t, opts)
	}
	collect(s, func() bool { return len(seen) >= total }, 5*time.Minute)
	elapsed := time.Since(start)

	missing := 0
	for id := range sent {
		if seen[id] == 0 {
			missing++
		}
	}
	dups := 0
	for id, n := range seen {
		if !sent[id] {
			t.Errorf("recorded an id never sent: %s", id)
		}
		dups += n - 1
	}
	t.Logf("%d messages recorded in %d invocations over %v with two kill -9s: %d missing, %d duplicates",
		len(seen), records, elapsed.Round(time.Millisecond), missing, dups)
	if missing > 0 {
		t.Fatalf("%d of %d messages were never recorded", missing, total)
	}
	eventually(t, 60*time.Second, "the source queue empty", func() error {
		if v, f := queueCounts(t, s, url); v != "0" || f != "0" {
			return fmt.Errorf("%s visible, %s in flight", v, f)
		}
		return nil
	})
}

// Two nodes on one NATS: a mapping made on one is polled by both, which share the
// queue through its visibility timeout. With the first node stopped halfway, the
// second consumes the rest on its own — it polls a mapping it never saw created.
func TestEventSourceMappingTwoNodes(t *testing.T) {
	requireSandboxHost(t, "namespace")
	natsURL := startNATS(t)
	a := startSandboxServerWith(t, "namespace", func(o *serverOptions) { o.natsURL = natsURL })
	b := startSandboxServerWith(t, "namespace", func(o *serverOptions) { o.natsURL = natsURL })
	recordURL, _ := queueWithARN(t, a, "esm2rec", nil)
	url, arn := queueWithARN(t, a, "esm2src", nil)
	fn := deployESM(t, a, recordURL, map[string]string{"MODE": "ids"})
	m := createMapping(t, a, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(arn), FunctionName: aws.String(fn), BatchSize: aws.Int32(5), Enabled: aws.Bool(false)})
	waitMappingState(t, b, aws.ToString(m.UUID), "Disabled")

	const total = 400
	bodies := make([]string, total)
	for i := range bodies {
		bodies[i] = fmt.Sprint("two-", i)
	}
	esmSend(t, b, url, bodies...)
	if _, err := b.client().UpdateEventSourceMapping(ctxT(t), &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	collect := func(s *server, want int, timeout time.Duration) {
		deadline := time.Now().Add(timeout)
		for len(seen) < want && time.Now().Before(deadline) {
			for _, msg := range drainQueue(t, s, recordURL, 10, time.Second) {
				var ids []string
				if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &ids); err != nil {
					t.Fatal(err)
				}
				for _, id := range ids {
					seen[id]++
				}
			}
		}
	}
	collect(b, total/4, 2*time.Minute)
	at := len(seen)
	if err := a.stop(); err != nil {
		t.Fatalf("stop the first node: %v", err)
	}
	collect(b, total, 2*time.Minute)
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("%d of %d recorded when the first node stopped; %d in all, %d duplicates", at, total, len(seen), dups)
	if len(seen) != total {
		t.Fatalf("%d of %d messages recorded", len(seen), total)
	}
}
