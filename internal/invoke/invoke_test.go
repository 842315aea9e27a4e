package invoke

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/async"
	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/worker"
)

// The dispatcher's own logic — the invocation's shape and limits, the three
// invocation types, Tail, init errors, code pruning — against a fake registry and
// runner. The real ones are exercised end to end in test/e2e.

type fakeRegistry struct {
	mu    sync.Mutex
	stamp [3]uint64
	used  map[string]bool
}

func (r *fakeRegistry) ResolveInvoke(ctx context.Context, name, qualifier string) (*control.InvokeTarget, error) {
	if name != "fn" {
		return nil, errdefs.New(errdefs.ErrNotFound, "Function not found: %s", name)
	}
	return &control.InvokeTarget{FunctionName: "fn", Version: "$LATEST", Runtime: "provided.al2023", MemoryMB: 128, TimeoutSec: 3, CodeKey: "c1", ConfigID: "cfg"}, nil
}

func (r *fakeRegistry) ConcurrencyLimits(string) (control.ConcurrencyLimits, error) {
	return control.ConcurrencyLimits{Unreserved: 1000}, nil
}

func (r *fakeRegistry) CodeInUse() ([3]uint64, map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stamp, r.used
}

func (r *fakeRegistry) ProvisionedTargets() ([]control.ProvisionedTarget, error) { return nil, nil }

func (r *fakeRegistry) ProvisionedStamp() [4]uint64 { return [4]uint64{} }

func (r *fakeRegistry) RecursiveLoop(string) (string, error) { return "Terminate", nil }

// fakeQueue keeps what Event invokes enqueue.
type fakeQueue struct {
	mu     sync.Mutex
	events []*async.Event
}

func (q *fakeQueue) Enqueue(ctx context.Context, e *async.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.events = append(q.events, e)
	return nil
}

func (f *fakeRunner) InvokeProvisioned(context.Context, *worker.Version, *worker.Request) (*worker.Result, bool, error) {
	return nil, false, nil
}

func (f *fakeRunner) Provision(id, rev string, v *worker.Version, n int) error { return nil }
func (f *fakeRunner) Provisions() []string                                     { return nil }
func (f *fakeRunner) ProvisionStatus(id, rev string, requested int) worker.ProvisionStatus {
	return worker.ProvisionStatus{Status: "IN_PROGRESS"}
}
func (f *fakeRunner) CheckProvision([]worker.ProvisionDemand) error { return nil }

type fakeRunner struct {
	mu      sync.Mutex
	calls   []*worker.Request
	result  func(req *worker.Request) (*worker.Result, error)
	pruned  []map[string]bool
	ran     chan struct{}
	waiting int
}

func (f *fakeRunner) Invoke(ctx context.Context, v *worker.Version, req *worker.Request) (*worker.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	f.mu.Unlock()
	defer func() {
		if f.ran != nil {
			f.ran <- struct{}{}
		}
	}()
	if f.result != nil {
		return f.result(req)
	}
	return &worker.Result{Payload: req.Payload, ExecutedVersion: v.Version, Log: []byte("START\nEND\nREPORT\n")}, nil
}

func (f *fakeRunner) PruneCode(used map[string]bool) (int, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruned = append(f.pruned, used)
	return 0, f.waiting, nil
}

func newDispatcher(t *testing.T, r *fakeRunner) (*Dispatcher, *fakeRegistry) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg := &fakeRegistry{used: map[string]bool{"c1": true}}
	return New(reg, r, nil, ctx), reg
}

func TestDispatcherRefusesBadShapes(t *testing.T) {
	d, _ := newDispatcher(t, &fakeRunner{})
	cc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name string
		in   Input
		kind error
		msg  string
	}{
		{"invocation type", Input{FunctionName: "fn", InvocationType: "Later"}, errdefs.ErrValidation, "1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [DryRun, RequestResponse, Event]"},
		{"log type", Input{FunctionName: "fn", LogType: "All"}, errdefs.ErrValidation, "Member must satisfy enum value set: [None, Tail]"},
		{"client context not base64", Input{FunctionName: "fn", ClientContext: "%%%"}, errdefs.ErrInvalidRequest, "Client context must be a valid Base64-encoded JSON object."},
		{"client context not JSON", Input{FunctionName: "fn", ClientContext: cc("nope")}, errdefs.ErrInvalidRequest, "Client context must be a valid Base64-encoded JSON object."},
		{"client context not an object", Input{FunctionName: "fn", ClientContext: cc("[1]")}, errdefs.ErrInvalidRequest, "Client context must be a valid Base64-encoded JSON object."},
		{"client context too long", Input{FunctionName: "fn", ClientContext: strings.Repeat("A", maxClientCtx+1)}, errdefs.ErrInvalidRequest, "at most 3583 bytes"},
		{"payload not JSON", Input{FunctionName: "fn", Payload: []byte("{")}, errdefs.ErrInvalidRequest, "Could not parse request body into json: Could not parse payload into json: Unexpected end-of-input: expected close marker for Object"},
		{"sync payload", Input{FunctionName: "fn", Payload: bytes.Repeat([]byte(" "), MaxSyncPayload+1)}, errdefs.ErrRequestEntityTooLarge, "Request must be smaller than 6291456 bytes for the InvokeFunction operation"},
		{"async payload", Input{FunctionName: "fn", InvocationType: "Event", Payload: bytes.Repeat([]byte(" "), MaxAsyncPayload+1)}, errdefs.ErrRequestEntityTooLarge, "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"},
		{"no such function", Input{FunctionName: "nope"}, errdefs.ErrNotFound, "Function not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Invoke(context.Background(), &tc.in)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v; want %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func TestDispatcherInvocationTypes(t *testing.T) {
	r := &fakeRunner{ran: make(chan struct{}, 4)}
	d, _ := newDispatcher(t, r)

	out, err := d.Invoke(context.Background(), &Input{RequestID: "r1", FunctionName: "fn", Payload: []byte(`{"a":1}`)})
	<-r.ran
	if err != nil || out.StatusCode != http.StatusOK || string(out.Payload) != `{"a":1}` || out.ExecutedVersion != "$LATEST" {
		t.Fatalf("RequestResponse: %+v, %v", out, err)
	}

	// No payload: the function gets {}.
	if _, err := d.Invoke(context.Background(), &Input{RequestID: "r2", FunctionName: "fn"}); err != nil {
		t.Fatal(err)
	}
	<-r.ran
	if got := string(r.calls[1].Payload); got != "{}" {
		t.Fatalf("an empty payload reached the function as %q; want {}", got)
	}

	out, err = d.Invoke(context.Background(), &Input{RequestID: "r3", FunctionName: "fn", InvocationType: "DryRun"})
	if err != nil || out.StatusCode != http.StatusNoContent {
		t.Fatalf("DryRun: %+v, %v", out, err)
	}

	// Event: stored in the queue, then 202; the queue runs it later through
	// RunEvent (internal/async's tests and test/e2e cover that).
	q := &fakeQueue{}
	d.SetEventQueue(q)
	out, err = d.Invoke(context.Background(), &Input{RequestID: "r4", FunctionName: "fn", InvocationType: "Event", Payload: []byte(`{"e":1}`),
		TraceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:3"})
	if err != nil || out.StatusCode != http.StatusAccepted {
		t.Fatalf("Event: %+v, %v", out, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.events) != 1 {
		t.Fatalf("%d events queued; want 1", len(q.events))
	}
	if e := q.events[0]; e.RequestID != "r4" || e.FunctionName != "fn" || string(e.Payload) != `{"e":1}` || e.Lineage != 4 {
		t.Fatalf("queued event %+v; want r4 of fn with its payload and lineage 4 (the caller's 3, plus this one)", e)
	}
	res, err := d.RunEvent(context.Background(), &control.InvokeTarget{FunctionName: "fn", Version: "$LATEST", TimeoutSec: 3, CodeKey: "c1", ConfigID: "cfg"}, q.events[0])
	<-r.ran
	if err != nil || string(res.Payload) != `{"e":1}` || res.FunctionError != "" {
		t.Fatalf("RunEvent: %+v, %v", res, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != 3 || r.calls[2].RequestID != "r4" || !strings.Contains(r.calls[2].TraceID, ";Lineage=") || !strings.HasSuffix(r.calls[2].TraceID, ":4") {
		t.Fatalf("calls: %d, the Event's request %+v; want r4 with a trace id of lineage 4", len(r.calls), r.calls[len(r.calls)-1])
	}
}

func TestDispatcherTailAndInitErrors(t *testing.T) {
	long := append(bytes.Repeat([]byte("x"), 10000), "REPORT\n"...)
	r := &fakeRunner{result: func(req *worker.Request) (*worker.Result, error) {
		if string(req.Payload) == `"init"` {
			return nil, &worker.InitError{ErrorType: "Runtime.ExitError", Message: "boom", Log: []byte("INIT_REPORT\n")}
		}
		return &worker.Result{Payload: []byte(`"ok"`), Log: long}, nil
	}}
	d, _ := newDispatcher(t, r)

	out, err := d.Invoke(context.Background(), &Input{FunctionName: "fn", LogType: "Tail"})
	if err != nil {
		t.Fatal(err)
	}
	tail, _ := base64.StdEncoding.DecodeString(out.LogResult)
	if len(tail) != logTailBytes || !bytes.HasSuffix(tail, []byte("REPORT\n")) {
		t.Fatalf("Tail of %d bytes ending %q; want the last 4 KB", len(tail), tail[max(0, len(tail)-10):])
	}
	out, err = d.Invoke(context.Background(), &Input{FunctionName: "fn"})
	if err != nil || out.LogResult != "" {
		t.Fatalf("no LogType: LogResult %q, %v", out.LogResult, err)
	}

	// A failed init phase is the function's error, as Lambda reports it.
	out, err = d.Invoke(context.Background(), &Input{FunctionName: "fn", LogType: "Tail", Payload: []byte(`"init"`)})
	if err != nil || out.StatusCode != http.StatusOK || out.FunctionError != "Unhandled" {
		t.Fatalf("init error: %+v, %v", out, err)
	}
	var doc map[string]string
	if json.Unmarshal(out.Payload, &doc) != nil || doc["errorType"] != "Runtime.ExitError" || doc["errorMessage"] != "boom" {
		t.Fatalf("init error document %s", out.Payload)
	}
	if tail, _ := base64.StdEncoding.DecodeString(out.LogResult); string(tail) != "INIT_REPORT\n" {
		t.Fatalf("init error Tail %q", tail)
	}
}

// The dispatcher prunes code when the registry changes, and again while unused
// code is waiting.
func TestDispatcherPrunesCodeOnChange(t *testing.T) {
	r := &fakeRunner{}
	_, reg := newDispatcher(t, r)
	prunes := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.pruned)
	}
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * pruneCodeEvery)
		for prunes() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d prunes after %v; want %d", prunes(), 10*pruneCodeEvery, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(1) // the first round
	time.Sleep(2 * pruneCodeEvery)
	if n := prunes(); n != 1 {
		t.Fatalf("%d prunes with no registry change; want 1", n)
	}
	reg.mu.Lock()
	reg.stamp[0]++
	reg.used = map[string]bool{}
	reg.mu.Unlock()
	wait(2)
	r.mu.Lock()
	if len(r.pruned[1]) != 0 {
		t.Errorf("the prune after the change kept %v", r.pruned[1])
	}
	r.waiting = 1 // something waits out its grace: the next round prunes again
	r.mu.Unlock()
	reg.mu.Lock()
	reg.stamp[1]++
	reg.mu.Unlock()
	wait(4)
}

// A synchronous invoke that would be a request chain's 17th invocation is refused,
// as Lambda's loop detection refuses it; the 16th runs.
func TestDispatcherStopsRecursiveLoops(t *testing.T) {
	r := &fakeRunner{ran: make(chan struct{}, 1)}
	d, _ := newDispatcher(t, r)
	_, err := d.Invoke(context.Background(), &Input{RequestID: "r1", FunctionName: "fn", TraceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:16"})
	if !errors.Is(err, errdefs.ErrRecursiveInvocation) {
		t.Fatalf("the 17th invocation of a chain: %v; want RecursiveInvocationException", err)
	}
	out, err := d.Invoke(context.Background(), &Input{RequestID: "r2", FunctionName: "fn", TraceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:15"})
	<-r.ran
	if err != nil || out.StatusCode != http.StatusOK {
		t.Fatalf("the 16th invocation of a chain: %+v, %v", out, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if got := r.calls[0].TraceID; !strings.HasSuffix(got, ":16") {
		t.Fatalf("the 16th invocation's trace id %q; want Lineage …:16", got)
	}
}
