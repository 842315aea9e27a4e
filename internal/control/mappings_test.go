package control

import (
	"archive/zip"
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

const (
	mapQueue1 = "arn:aws:sqs:us-east-1:000000000000:q1"
	mapQueue2 = "arn:aws:sqs:us-east-1:000000000000:q2"
)

// newMappingService is a registry over a real embedded JetStream serving queues q1
// and q2, with functions f and g.
func newMappingService(t *testing.T) (*Service, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(Config{Store: st, Region: "us-east-1", AccountID: "000000000000", QueueExists: func(arn string) bool { return arn == mapQueue1 || arn == mapQueue2 }})
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, _ := w.Create("app.py")
	_, _ = f.Write([]byte("def handler(e, c):\n    return e\n"))
	_ = w.Close()
	for _, name := range []string{"f", "g"} {
		if _, err := s.CreateFunction(context.Background(), &CreateFunctionInput{FunctionName: name, Runtime: "python3.12", Role: "arn:aws:iam::000000000000:role/r", Handler: "app.handler", Code: &FunctionCode{ZipFile: b.Bytes()}}); err != nil {
			t.Fatal(err)
		}
	}
	return s, st
}

func mapStr(s string) *string { return &s }
func mapInt(n int) *int       { return &n }

func wantMappingErr(t *testing.T, err error, kind *errdefs.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s %q", kind.Type, msg)
	}
	if errdefs.KindOf(err) != kind || !strings.Contains(errdefs.Message(err), msg) {
		t.Fatalf("got %s %q; want %s containing %q", errdefs.KindOf(err).Type, errdefs.Message(err), kind.Type, msg)
	}
}

func TestMappingLifecycle(t *testing.T) {
	s, _ := newMappingService(t)
	ctx := context.Background()
	out, err := s.CreateEventSourceMapping(ctx, &EventSourceMappingInput{EventSourceArn: mapStr(mapQueue1), FunctionName: mapStr("f")})
	if err != nil {
		t.Fatal(err)
	}
	if out.State != MappingCreating || out.StateTransitionReason != "USER_INITIATED" || out.BatchSize != 10 || out.MaximumBatchingWindowInSeconds != 0 ||
		out.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:f" || out.EventSourceMappingArn != "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:"+out.UUID ||
		out.FunctionResponseTypes == nil || out.LastModified == 0 {
		t.Fatalf("create answered %+v", out)
	}
	got, err := s.GetEventSourceMapping(ctx, out.UUID)
	if err != nil || got.State != MappingEnabled {
		t.Fatalf("get: %+v, %v", got, err)
	}
	// The same queue and function again: Lambda's conflict, naming the UUID.
	_, err = s.CreateEventSourceMapping(ctx, &EventSourceMappingInput{EventSourceArn: mapStr(mapQueue1), FunctionName: mapStr("arn:aws:lambda:us-east-1:000000000000:function:f")})
	wantMappingErr(t, err, errdefs.ErrConflict, `An event source mapping with SQS arn (" `+mapQueue1+` ") and function (" f ") already exists. Please update or delete the existing mapping with UUID `+out.UUID)

	up, err := s.UpdateEventSourceMapping(ctx, out.UUID, &EventSourceMappingInput{Enabled: ptr(false), BatchSize: mapInt(100), MaximumBatchingWindowInSeconds: mapInt(5),
		FunctionResponseTypes: &[]string{ReportBatchItemFailures}, ScalingConfig: &ScalingConfig{MaximumConcurrency: mapInt(3)},
		FilterCriteria: &FilterCriteria{Filters: []Filter{{Pattern: `{"body":{"a":["b"]}}`}}}})
	if err != nil {
		t.Fatal(err)
	}
	if up.State != MappingDisabling || up.BatchSize != 100 || *up.ScalingConfig.MaximumConcurrency != 3 || len(up.FilterCriteria.Filters) != 1 || up.FunctionResponseTypes[0] != ReportBatchItemFailures {
		t.Fatalf("update answered %+v", up)
	}
	ms := s.EventSourceMappings()
	if len(ms) != 1 || ms[0].Enabled || ms[0].BatchSize != 100 || !ms[0].ReportBatchItemFailures || ms[0].MaximumConcurrency != 3 {
		t.Fatalf("pollers see %+v", ms)
	}
	if up, err = s.UpdateEventSourceMapping(ctx, out.UUID, &EventSourceMappingInput{Enabled: ptr(true)}); err != nil || up.State != MappingEnabling {
		t.Fatalf("enable: %+v %v", up, err)
	}
	if up, err = s.UpdateEventSourceMapping(ctx, out.UUID, &EventSourceMappingInput{FunctionName: mapStr("g")}); err != nil || up.State != MappingUpdating || !strings.HasSuffix(up.FunctionArn, ":g") {
		t.Fatalf("move to g: %+v %v", up, err)
	}
	// The pair (q1, f) is free again; (q1, g) is taken.
	second, err := s.CreateEventSourceMapping(ctx, &EventSourceMappingInput{EventSourceArn: mapStr(mapQueue1), FunctionName: mapStr("f")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateEventSourceMapping(ctx, second.UUID, &EventSourceMappingInput{FunctionName: mapStr("g")})
	wantMappingErr(t, err, errdefs.ErrConflict, "UUID "+out.UUID)

	// Listing, filtered and paged.
	if _, err := s.CreateEventSourceMapping(ctx, &EventSourceMappingInput{EventSourceArn: mapStr(mapQueue2), FunctionName: mapStr("f")}); err != nil {
		t.Fatal(err)
	}
	all, _ := s.ListEventSourceMappings(ctx, "", "", "", 0)
	byQueue, _ := s.ListEventSourceMappings(ctx, mapQueue1, "", "", 0)
	byFn, _ := s.ListEventSourceMappings(ctx, "", "f", "", 0)
	both, _ := s.ListEventSourceMappings(ctx, mapQueue2, "f", "", 0)
	none, _ := s.ListEventSourceMappings(ctx, "", "doesnotexist", "", 0)
	if len(all.EventSourceMappings) != 3 || len(byQueue.EventSourceMappings) != 2 || len(byFn.EventSourceMappings) != 2 || len(both.EventSourceMappings) != 1 || len(none.EventSourceMappings) != 0 {
		t.Fatalf("list sizes %d %d %d %d %d", len(all.EventSourceMappings), len(byQueue.EventSourceMappings), len(byFn.EventSourceMappings), len(both.EventSourceMappings), len(none.EventSourceMappings))
	}
	p1, _ := s.ListEventSourceMappings(ctx, "", "", "", 2)
	p2, _ := s.ListEventSourceMappings(ctx, "", "", p1.NextMarker, 2)
	if len(p1.EventSourceMappings) != 2 || p1.NextMarker == "" || len(p2.EventSourceMappings) != 1 || p2.NextMarker != "" {
		t.Fatalf("pages %d (%q), %d (%q)", len(p1.EventSourceMappings), p1.NextMarker, len(p2.EventSourceMappings), p2.NextMarker)
	}

	del, err := s.DeleteEventSourceMapping(ctx, out.UUID)
	if err != nil || del.State != MappingDeleting {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = s.GetEventSourceMapping(ctx, out.UUID)
	wantMappingErr(t, err, errdefs.ErrNotFound, "The resource you requested does not exist.")
	_, err = s.DeleteEventSourceMapping(ctx, out.UUID)
	wantMappingErr(t, err, errdefs.ErrNotFound, "The resource you requested does not exist.")
	_, err = s.UpdateEventSourceMapping(ctx, out.UUID, &EventSourceMappingInput{Enabled: ptr(true)})
	wantMappingErr(t, err, errdefs.ErrNotFound, "The resource you requested does not exist.")
	// (q1, g) is free once its mapping is deleted.
	if _, err := s.UpdateEventSourceMapping(ctx, second.UUID, &EventSourceMappingInput{FunctionName: mapStr("g")}); err != nil {
		t.Fatal(err)
	}
}

func TestMappingErrors(t *testing.T) {
	s, _ := newMappingService(t)
	ctx := context.Background()
	create := func(in EventSourceMappingInput) error {
		_, err := s.CreateEventSourceMapping(ctx, &in)
		return err
	}
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("doesnotexist")}), errdefs.ErrInvalidParameter, "Unrecognized event source.")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("doesnotexist"), EventSourceArn: mapStr(mapQueue1)}), errdefs.ErrInvalidParameter, "Function does not exist")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr("arn:aws:sqs:us-east-1:000000000000:nope")}), errdefs.ErrInvalidParameter,
		"Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist.")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), StartingPosition: mapStr("LATEST")}), errdefs.ErrInvalidParameter, "StartingPosition is not valid for SQS event sources.")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), StartingPosition: mapStr("invalid")}), errdefs.ErrValidation, "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), BatchSize: mapInt(11)}), errdefs.ErrInvalidParameter, "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), BatchSize: mapInt(10001), MaximumBatchingWindowInSeconds: mapInt(1)}), errdefs.ErrValidation, "Member must have value less than or equal to 10000")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), MaximumBatchingWindowInSeconds: mapInt(301)}), errdefs.ErrValidation, "maximumBatchingWindowInSeconds")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), ScalingConfig: &ScalingConfig{MaximumConcurrency: mapInt(1)}}), errdefs.ErrValidation, "Member must have value greater than or equal to 2")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), FunctionResponseTypes: &[]string{"Nope"}}), errdefs.ErrValidation, "ReportBatchItemFailures")
	for _, bad := range []string{"null", `"simple string"`, `{"eventSource":"aws:sqs"}`, `{"eventSource":[]}`} {
		wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), FilterCriteria: &FilterCriteria{Filters: []Filter{{Pattern: bad}}}}), errdefs.ErrInvalidParameter, "Invalid filter pattern definition.")
	}
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), DestinationConfig: []byte(`{"OnFailure":{"Destination":"x"}}`)}), errdefs.ErrInvalidParameter, "Unsupported DestinationConfig parameter for given event source mapping type.")
	// AWS checks the members a source does not take before the function.
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("doesnotexist"), EventSourceArn: mapStr(mapQueue1), DestinationConfig: []byte(`{"OnFailure":{"Destination":"x"}}`)}), errdefs.ErrInvalidParameter, "Unsupported DestinationConfig parameter for given event source mapping type.")
	for _, src := range []string{"arn:aws:kinesis:us-east-1:000000000000:stream/s", "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024", "arn:aws:kafka:us-east-1:000000000000:cluster/c/1", "arn:aws:mq:us-east-1:000000000000:broker:b:1"} {
		wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(src), StartingPosition: mapStr("LATEST")}), errdefs.ErrInvalidParameter, "Hearth polls only its own SQS queues")
	}
	// The answers AWS gives a stream source before it looks at the stream.
	for _, src := range []string{"arn:aws:kinesis:us-east-1:000000000000:stream/s", "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024"} {
		wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(src)}), errdefs.ErrInvalidParameter,
			"1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null.")
	}
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr("arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024"), StartingPosition: mapStr("AT_TIMESTAMP")}), errdefs.ErrInvalidParameter,
		"Unsupported starting position for arn type: arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024")
	kafka := []byte(`{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["kafka:1000"]}}`)
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), SelfManagedEventSource: kafka}), errdefs.ErrInvalidParameter, "Required 'sourceAccessConfigurations' parameter is missing.")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), SelfManagedEventSource: kafka, SourceAccessConfigurations: []byte(`[{"Type":"BASIC_AUTH","URI":"arn:aws:secretsmanager:us-east-1:000000000000:secret:s"}]`)}),
		errdefs.ErrInvalidParameter, "Hearth polls only its own SQS queues")
	// The model's constraints come first, in AWS's words.
	wantMappingErr(t, create(EventSourceMappingInput{EventSourceArn: mapStr(mapQueue1)}), errdefs.ErrValidation,
		"1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr("not-an-arn")}), errdefs.ErrValidation,
		"1 validation error detected: Value 'not-an-arn' at 'eventSourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: "+eventSourceArnPattern)
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("doesnotexist"), EventSourceArn: mapStr(mapQueue1), MaximumRetryAttempts: []byte("-2")}), errdefs.ErrValidation,
		"1 validation error detected: Value '-2' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value greater than or equal to -1")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), FunctionResponseTypes: &[]string{"Nope"}}), errdefs.ErrValidation,
		"1 validation error detected: Value '[Nope]' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures], Member must not be null]")
	wantMappingErr(t, create(EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(mapQueue1), FunctionResponseTypes: &[]string{ReportBatchItemFailures, ReportBatchItemFailures}}), errdefs.ErrValidation,
		"1 validation error detected: Value '[ReportBatchItemFailures, ReportBatchItemFailures]' at 'functionResponseTypes' failed to satisfy constraint: Member must have length less than or equal to 1")
	_, err := s.ListEventSourceMappings(ctx, "not-an-arn", "", "", 0)
	wantMappingErr(t, err, errdefs.ErrValidation, "at 'eventSourceArn' failed to satisfy constraint")
	fifo := "arn:aws:sqs:us-east-1:000000000000:q.fifo"
	other := New(Config{Store: s.st, Region: "us-east-1", AccountID: "000000000000", QueueExists: func(string) bool { return true }})
	_, err = other.CreateEventSourceMapping(ctx, &EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(fifo), BatchSize: mapInt(100), MaximumBatchingWindowInSeconds: mapInt(5)})
	wantMappingErr(t, err, errdefs.ErrInvalidParameter, "Batching window is not supported for FIFO queues")
	_, err = other.CreateEventSourceMapping(ctx, &EventSourceMappingInput{FunctionName: mapStr("f"), EventSourceArn: mapStr(fifo), BatchSize: mapInt(11)})
	wantMappingErr(t, err, errdefs.ErrInvalidParameter, "Maximum batch window in seconds must be greater than 0")
	_, err = s.GetEventSourceMapping(ctx, "6d3a5f7e-0000-4000-8000-000000000000")
	wantMappingErr(t, err, errdefs.ErrNotFound, "The resource you requested does not exist.")
}

// Racing creates of one pair, on one registry or two (two nodes share the bucket),
// make exactly one mapping.
func TestMappingCreateRace(t *testing.T) {
	s, st := newMappingService(t)
	other := New(Config{Store: st, Region: "us-east-1", AccountID: "000000000000", QueueExists: func(string) bool { return true }})
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, conflicts := 0, 0
	for i := 0; i < 8; i++ {
		reg := s
		if i%2 == 1 {
			reg = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := reg.CreateEventSourceMapping(context.Background(), &EventSourceMappingInput{EventSourceArn: mapStr(mapQueue1), FunctionName: mapStr("f")})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if errdefs.KindOf(err) == errdefs.ErrConflict {
				conflicts++
			} else {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || conflicts != 7 {
		t.Fatalf("%d created, %d conflicts; want 1 and 7", won, conflicts)
	}
}

// A pair key naming a mapping that does not exist is a create still writing its
// record while the claim is young (a conflict), and a crash's leftover once it is old
// (taken over).
func TestMappingPairClaim(t *testing.T) {
	s, st := newMappingService(t)
	ctx := context.Background()
	key := pairKey(mapQueue1, "f", "")
	ghost := "6d3a5f7e-0000-4000-8000-000000000001"
	if _, err := st.Mappings.Create(ctx, key, []byte(ghost+" "+strconv.FormatInt(time.Now().UnixMilli(), 10))); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateEventSourceMapping(ctx, &EventSourceMappingInput{EventSourceArn: mapStr(mapQueue1), FunctionName: mapStr("f")})
	wantMappingErr(t, err, errdefs.ErrConflict, "the existing mapping with UUID "+ghost)
	for _, stale := range []string{ghost + " " + strconv.FormatInt(time.Now().Add(-time.Minute).UnixMilli(), 10), ghost} {
		e, _, _ := st.Mappings.Fresh(ctx, key)
		if _, err := st.Mappings.Update(ctx, key, []byte(stale), e.Revision); err != nil {
			t.Fatal(err)
		}
		out, err := s.CreateEventSourceMapping(ctx, &EventSourceMappingInput{EventSourceArn: mapStr(mapQueue1), FunctionName: mapStr("f")})
		if err != nil {
			t.Fatalf("claim %q: %v", stale, err)
		}
		if _, err := s.DeleteEventSourceMapping(ctx, out.UUID); err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Mappings.Get(key); ok {
			t.Fatal("delete left the pair key")
		}
		if _, err := st.Mappings.Create(ctx, key, []byte(ghost)); err != nil { // for the next claim
			t.Fatal(err)
		}
	}
}

func TestMappingTags(t *testing.T) {
	s, _ := newMappingService(t)
	ctx := context.Background()
	out, err := s.CreateEventSourceMapping(ctx, &EventSourceMappingInput{EventSourceArn: mapStr(mapQueue1), FunctionName: mapStr("f"), Tags: map[string]string{"A": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TagResource(ctx, out.EventSourceMappingArn, map[string]string{"B": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UntagResource(ctx, out.EventSourceMappingArn, []string{"A"}); err != nil {
		t.Fatal(err)
	}
	tags, err := s.ListTags(ctx, out.EventSourceMappingArn)
	if err != nil || len(tags) != 1 || tags["B"] != "b" {
		t.Fatalf("tags %v %v", tags, err)
	}
	_, err = s.ListTags(ctx, "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:6d3a5f7e-0000-4000-8000-000000000000")
	wantMappingErr(t, err, errdefs.ErrNotFound, "Event source mapping not found: arn:aws:lambda:us-east-1:000000000000:event-source-mapping:6d3a5f7e-0000-4000-8000-000000000000")
}
