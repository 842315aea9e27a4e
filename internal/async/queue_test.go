package async

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

// The queue's retry policy and outcomes against a real embedded JetStream, with a
// fake registry and runner standing in for the functions (test/e2e runs real ones).

type fakeRegistry struct {
	mu       sync.Mutex
	configs  map[string]control.AsyncConfig // by function
	reserved map[string]int
	dlq      map[string]string
	deleted  map[string]bool
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{configs: map[string]control.AsyncConfig{}, reserved: map[string]int{}, dlq: map[string]string{}, deleted: map[string]bool{}}
}

func (r *fakeRegistry) ResolveInvoke(ctx context.Context, fn, qualifier string) (*control.InvokeTarget, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deleted[fn] {
		return nil, errdefs.New(errdefs.ErrNotFound, "Function not found: %s", fn)
	}
	arn := "arn:aws:lambda:us-east-1:123456789012:function:" + fn
	if qualifier != "" {
		arn += ":" + qualifier
	}
	return &control.InvokeTarget{FunctionName: fn, FunctionArn: arn, Version: "$LATEST", TimeoutSec: 3, DeadLetterArn: r.dlq[fn]}, nil
}

func (r *fakeRegistry) ConcurrencyLimits(fn string) (control.ConcurrencyLimits, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.reserved[fn]
	return control.ConcurrencyLimits{Reserved: n, HasReserved: ok, Unreserved: 1000}, nil
}

func (r *fakeRegistry) AsyncConfig(fn, qualifier string) (control.AsyncConfig, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.configs[fn]; ok {
		return c, nil
	}
	return control.DefaultAsyncConfig(), nil
}

func (r *fakeRegistry) RecursiveLoop(string) (string, error) { return "Terminate", nil }
func (r *fakeRegistry) Region() string                       { return "us-east-1" }
func (r *fakeRegistry) AccountID() string                    { return "123456789012" }

// fakeRunner answers each attempt with its function's script.
type fakeRunner struct {
	mu       sync.Mutex
	attempts map[string][]time.Time // by request id
	answer   func(fn string, e *Event) (*Result, error)
	block    chan struct{} // when set, attempts wait for it
}

func (f *fakeRunner) RunEvent(ctx context.Context, t *control.InvokeTarget, e *Event) (*Result, error) {
	f.mu.Lock()
	f.attempts[e.RequestID] = append(f.attempts[e.RequestID], time.Now())
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.answer(t.FunctionName, e)
}

func (f *fakeRunner) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.attempts[id])
}

// fakeQueues records what destinations and dead-letter queues received.
type fakeQueues struct {
	mu   sync.Mutex
	fail bool
	got  []sent
}

type sent struct {
	arn, body string
	attrs     map[string]Attribute
}

func (f *fakeQueues) SendToQueue(ctx context.Context, arn, body string, attrs map[string]Attribute, lineage int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return fmt.Errorf("queue %s is unavailable", arn)
	}
	f.got = append(f.got, sent{arn, body, attrs})
	return nil
}

func (f *fakeQueues) sent() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.got...)
}

const scale = 0.01 // 1 min → 600 ms; 60 s of event age → 600 ms

type harness struct {
	st     *store.Store
	reg    *fakeRegistry
	run    *fakeRunner
	queues *fakeQueues
	q      *Queue
	dir    string
}

func newHarness(t *testing.T) *harness {
	h := &harness{dir: t.TempDir(), reg: newFakeRegistry(), queues: &fakeQueues{},
		run: &fakeRunner{attempts: map[string][]time.Time{}, answer: func(string, *Event) (*Result, error) {
			return &Result{Payload: []byte(`"ok"`), ExecutedVersion: "$LATEST"}, nil
		}}}
	h.open(t)
	t.Cleanup(func() { h.close() })
	return h
}

func (h *harness) open(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{DataDir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	h.q, err = Open(context.Background(), Config{JetStream: st.JetStream(), Registry: h.reg, Runner: h.run, Queues: h.queues,
		DelayScale: scale, AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
}

func (h *harness) close() {
	if h.q != nil {
		h.q.Close()
		h.st.Close()
		h.q = nil
	}
}

func (h *harness) enqueue(t *testing.T, fn, id string) {
	t.Helper()
	if err := h.q.Enqueue(context.Background(), &Event{RequestID: id, FunctionName: fn, Payload: []byte(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func decodeRecord(t *testing.T, body string) record {
	t.Helper()
	var r record
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("record %q: %v", body, err)
	}
	return r
}

func TestSuccessGoesToOnSuccess(t *testing.T) {
	h := newHarness(t)
	h.reg.configs["fn"] = control.AsyncConfig{MaximumRetryAttempts: 2, MaximumEventAge: time.Hour, OnSuccess: "arn:aws:sqs:us-east-1:123456789012:ok"}
	h.enqueue(t, "fn", "r1")
	waitFor(t, "the success record", func() bool { return len(h.queues.sent()) == 1 })
	s := h.queues.sent()[0]
	r := decodeRecord(t, s.body)
	if s.arn != "arn:aws:sqs:us-east-1:123456789012:ok" || r.Version != "1.0" || r.RequestContext.Condition != "Success" ||
		r.RequestContext.RequestID != "r1" || r.RequestContext.ApproximateInvokeCount != 1 ||
		r.RequestContext.FunctionArn != "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST" ||
		string(r.RequestPayload) != `{"n":1}` || string(r.ResponsePayload) != `"ok"` ||
		r.ResponseContext == nil || r.ResponseContext.StatusCode != 200 || r.ResponseContext.ExecutedVersion != "$LATEST" {
		t.Fatalf("success record %s to %s", s.body, s.arn)
	}
	if !strings.HasPrefix(s.body, `{"version":"1.0","timestamp":"`) {
		t.Fatalf("record keys are not in AWS's order: %s", s.body)
	}
}

func TestFunctionErrorsRetryTwiceWithLambdasDelays(t *testing.T) {
	h := newHarness(t)
	h.run.answer = func(string, *Event) (*Result, error) {
		return &Result{Payload: []byte(`{"errorMessage":"boom","errorType":"Error"}`), FunctionError: "Unhandled", ExecutedVersion: "$LATEST"}, nil
	}
	h.reg.dlq["fn"] = "arn:aws:sqs:us-east-1:123456789012:dlq"
	h.reg.configs["fn"] = control.AsyncConfig{MaximumRetryAttempts: 2, MaximumEventAge: time.Hour, OnFailure: "arn:aws:sqs:us-east-1:123456789012:failed"}
	h.enqueue(t, "fn", "r1")
	waitFor(t, "the failure record and the dead letter", func() bool { return len(h.queues.sent()) == 2 })
	if n := h.run.count("r1"); n != 3 {
		t.Fatalf("%d attempts; want 3 (the first and 2 retries)", n)
	}
	at := h.run.attempts["r1"]
	first, second := at[1].Sub(at[0]), at[2].Sub(at[1])
	// 1 min and 2 min, scaled: 600 ms and 1.2 s. A busy machine may add to them,
	// never take away.
	if first < 600*time.Millisecond || second < 1200*time.Millisecond || second < first {
		t.Fatalf("retry delays %v, %v; want ≥600ms then ≥1.2s", first, second)
	}
	for _, s := range h.queues.sent() {
		switch s.arn {
		case "arn:aws:sqs:us-east-1:123456789012:failed":
			r := decodeRecord(t, s.body)
			if r.RequestContext.Condition != "RetriesExhausted" || r.RequestContext.ApproximateInvokeCount != 3 ||
				r.ResponseContext.FunctionError != "Unhandled" || !strings.Contains(string(r.ResponsePayload), "boom") {
				t.Fatalf("failure record %s", s.body)
			}
		case "arn:aws:sqs:us-east-1:123456789012:dlq":
			if s.body != `{"n":1}` || s.attrs["RequestID"].Value != "r1" || s.attrs["ErrorCode"] != (Attribute{"Number", "200"}) || s.attrs["ErrorMessage"].Value != "boom" {
				t.Fatalf("dead letter %+v", s)
			}
		default:
			t.Fatalf("delivered to %s", s.arn)
		}
	}
}

// AWS's recorded behaviour: MaximumEventAgeInSeconds 60 with 2 retries runs once
// and fails at once (the retry at +60 s would be too old); 90 runs twice.
func TestEventAgeLookahead(t *testing.T) {
	for _, tc := range []struct {
		age      time.Duration
		attempts int
	}{{60 * time.Second, 1}, {90 * time.Second, 2}} {
		t.Run(tc.age.String(), func(t *testing.T) {
			h := newHarness(t)
			h.run.answer = func(string, *Event) (*Result, error) {
				return &Result{Payload: []byte(`{"errorMessage":"boom"}`), FunctionError: "Unhandled", ExecutedVersion: "$LATEST"}, nil
			}
			h.reg.configs["fn"] = control.AsyncConfig{MaximumRetryAttempts: 2, MaximumEventAge: tc.age, OnFailure: "arn:aws:sqs:us-east-1:123456789012:failed"}
			h.enqueue(t, "fn", "r1")
			waitFor(t, "the failure record", func() bool { return len(h.queues.sent()) == 1 })
			r := decodeRecord(t, h.queues.sent()[0].body)
			if r.RequestContext.Condition != "EventAgeExceeded" || r.RequestContext.ApproximateInvokeCount != tc.attempts || h.run.count("r1") != tc.attempts {
				t.Fatalf("record %+v after %d attempts; want EventAgeExceeded after %d", r.RequestContext, h.run.count("r1"), tc.attempts)
			}
		})
	}
}

// Throttles back off and retry without using up retries, until the function
// takes the event.
func TestThrottlesDoNotUseUpRetries(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	throttles := 0
	h.run.answer = func(string, *Event) (*Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if throttles < 4 {
			throttles++
			return nil, errdefs.Throttled("ReservedFunctionConcurrentInvocationLimitExceeded", "Rate Exceeded.")
		}
		return &Result{Payload: []byte(`1`), ExecutedVersion: "$LATEST"}, nil
	}
	h.reg.configs["fn"] = control.AsyncConfig{MaximumRetryAttempts: 0, MaximumEventAge: time.Hour, OnSuccess: "arn:aws:sqs:us-east-1:123456789012:ok"}
	h.enqueue(t, "fn", "r1")
	waitFor(t, "the success record", func() bool { return len(h.queues.sent()) == 1 })
	r := decodeRecord(t, h.queues.sent()[0].body)
	if r.RequestContext.Condition != "Success" || r.RequestContext.ApproximateInvokeCount != 1 || h.run.count("r1") != 5 {
		t.Fatalf("record %+v after %d attempts; want Success, count 1, after 4 throttles", r.RequestContext, h.run.count("r1"))
	}
}

func TestZeroReservedConcurrencyFailsAtOnce(t *testing.T) {
	h := newHarness(t)
	h.reg.reserved["fn"] = 0
	h.reg.configs["fn"] = control.AsyncConfig{MaximumRetryAttempts: 2, MaximumEventAge: time.Hour, OnFailure: "arn:aws:sqs:us-east-1:123456789012:failed"}
	h.enqueue(t, "fn", "r1")
	waitFor(t, "the failure record", func() bool { return len(h.queues.sent()) == 1 })
	body := h.queues.sent()[0].body
	r := decodeRecord(t, body)
	if r.RequestContext.Condition != "ZeroReservedConcurrency" || r.RequestContext.ApproximateInvokeCount != 0 || h.run.count("r1") != 0 ||
		strings.Contains(body, "responseContext") || strings.Contains(body, "responsePayload") {
		t.Fatalf("record %s after %d attempts", body, h.run.count("r1"))
	}
}

// A destination that fails is retried, counted, and delivered once it recovers.
func TestFailedDeliveryIsRetried(t *testing.T) {
	h := newHarness(t)
	h.queues.mu.Lock()
	h.queues.fail = true
	h.queues.mu.Unlock()
	h.reg.configs["fn"] = control.AsyncConfig{MaximumRetryAttempts: 2, MaximumEventAge: time.Hour, OnSuccess: "arn:aws:sqs:us-east-1:123456789012:ok"}
	h.enqueue(t, "fn", "r1")
	waitFor(t, "a failed delivery", func() bool {
		for _, s := range h.q.Stats(context.Background()) {
			if s.Function == "fn" && s.DestinationDeliveryFailures >= 2 {
				return true
			}
		}
		return false
	})
	h.queues.mu.Lock()
	h.queues.fail = false
	h.queues.mu.Unlock()
	waitFor(t, "the delivery", func() bool { return len(h.queues.sent()) == 1 })
	if n := h.run.count("r1"); n != 1 {
		t.Fatalf("the function ran %d times; a failed delivery must not run it again", n)
	}
}

func TestDeletedFunctionsEventsAreDropped(t *testing.T) {
	h := newHarness(t)
	h.reg.mu.Lock()
	h.reg.deleted["gone"] = true
	h.reg.mu.Unlock()
	h.enqueue(t, "gone", "r1")
	waitFor(t, "the drop", func() bool {
		for _, s := range h.q.Stats(context.Background()) {
			if s.Function == "gone" && s.Dropped == 1 && s.Stored == 0 {
				return true
			}
		}
		return false
	})
	if h.run.count("r1") != 0 {
		t.Fatal("an event of a deleted function ran")
	}
}

// An attempt in flight when the node stops runs again after the restart, with the
// same request id.
func TestAttemptInFlightSurvivesRestart(t *testing.T) {
	h := newHarness(t)
	h.run.block = make(chan struct{})
	h.enqueue(t, "fn", "r1")
	waitFor(t, "the first attempt", func() bool { return h.run.count("r1") == 1 })
	h.close()
	h.run.mu.Lock()
	h.run.block = nil
	h.run.mu.Unlock()
	h.reg.configs["fn"] = control.AsyncConfig{MaximumRetryAttempts: 2, MaximumEventAge: time.Hour, OnSuccess: "arn:aws:sqs:us-east-1:123456789012:ok"}
	h.open(t)
	waitFor(t, "the attempt after restart", func() bool { return len(h.queues.sent()) == 1 })
	if n := h.run.count("r1"); n != 2 {
		t.Fatalf("%d attempts; want 2 (the cut one, then one after restart)", n)
	}
}

// A function's backlog never holds up another's events.
func TestFunctionsDoNotWaitForEachOther(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	h.run.answer = func(fn string, e *Event) (*Result, error) {
		if fn == "slow" {
			<-release
		}
		return &Result{Payload: []byte(`1`), ExecutedVersion: "$LATEST"}, nil
	}
	defer close(release)
	h.reg.reserved["slow"] = 1
	for i := range 5 {
		h.enqueue(t, "slow", fmt.Sprintf("s%d", i))
	}
	h.enqueue(t, "fast", "f1")
	waitFor(t, "the other function's event", func() bool { return h.run.count("f1") == 1 })
	ran := 0
	for i := range 5 {
		ran += h.run.count(fmt.Sprintf("s%d", i))
	}
	if ran != 1 {
		t.Fatalf("%d events of a function with reserved concurrency 1 started at once", ran)
	}
}

func TestLineageOf(t *testing.T) {
	for in, want := range map[string]int{
		"": 0,
		"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1":          0,
		"Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:3": 3,
		"Lineage=10:a87bd80c:7;Root=x":                                7,
		"Lineage=a87bd80c:-1":                                         0,
		"Lineage=a87bd80c:zz":                                         0,
	} {
		if got := LineageOf(in); got != want {
			t.Errorf("LineageOf(%q) = %d; want %d", in, got, want)
		}
	}
}
