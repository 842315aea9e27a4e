package esm

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
)

// fakeQueue is an in-memory queue: a received message is in flight until deleted
// or released.
type fakeQueue struct {
	mu       sync.Mutex
	visible  []Message
	inflight map[string]Message // by receipt handle
	deleted  map[string]int     // message id → deletes
	receives atomic.Int64
}

func newFakeQueue(n int, body func(i int) string) *fakeQueue {
	q := &fakeQueue{inflight: map[string]Message{}, deleted: map[string]int{}}
	for i := 0; i < n; i++ {
		q.visible = append(q.visible, Message{MessageId: fmt.Sprintf("m%03d", i), Body: body(i), MD5OfBody: "x",
			Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "s", "ApproximateFirstReceiveTimestamp": "1"}})
	}
	return q
}

func (q *fakeQueue) Receive(ctx context.Context, arn string, max int, wait time.Duration) ([]Message, error) {
	q.receives.Add(1)
	deadline := time.Now().Add(min(wait, 30*time.Millisecond))
	for {
		if ctx.Err() != nil { // a cancelled receive gets nothing, as from the server
			return nil, ctx.Err()
		}
		q.mu.Lock()
		if len(q.visible) > 0 {
			n := min(max, len(q.visible))
			out := append([]Message(nil), q.visible[:n]...)
			q.visible = q.visible[n:]
			for i := range out {
				out[i].ReceiptHandle = "h-" + out[i].MessageId
				q.inflight[out[i].ReceiptHandle] = out[i]
			}
			q.mu.Unlock()
			return out, nil
		}
		q.mu.Unlock()
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, nil
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (q *fakeQueue) DeleteBatch(ctx context.Context, arn string, handles []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, h := range handles {
		if m, ok := q.inflight[h]; ok {
			q.deleted[m.MessageId]++
			delete(q.inflight, h)
		}
	}
	return nil
}

func (q *fakeQueue) ChangeVisibility(ctx context.Context, arn, h string, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if m, ok := q.inflight[h]; ok {
		delete(q.inflight, h)
		q.visible = append(q.visible, m)
	}
	return nil
}

func (q *fakeQueue) Attributes(ctx context.Context, arn string) (QueueAttributes, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueAttributes{VisibilityTimeout: 30 * time.Second, Backlog: len(q.visible)}, nil
}

func (q *fakeQueue) counts() (visible, inflight, deleted int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.visible), len(q.inflight), len(q.deleted)
}

type fakeInvoker struct {
	mu      sync.Mutex
	batches [][]string // message ids per invocation
	events  [][]byte
	answer  func(ids []string) ([]byte, string, error)
}

func (f *fakeInvoker) InvokeBatch(ctx context.Context, arn string, payload []byte, trace string) ([]byte, string, error) {
	var ev struct {
		Records []struct {
			MessageId string `json:"messageId"`
		}
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, "", err
	}
	ids := make([]string, len(ev.Records))
	for i, r := range ev.Records {
		ids[i] = r.MessageId
	}
	f.mu.Lock()
	f.batches = append(f.batches, ids)
	f.events = append(f.events, payload)
	f.mu.Unlock()
	if f.answer != nil {
		return f.answer(ids)
	}
	return []byte("null"), "", nil
}

func (f *fakeInvoker) invoked() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.batches...)
}

type fakeRegistry struct {
	mu       sync.Mutex
	mappings []control.Mapping
	changes  atomic.Uint64
	reserved int
}

func (r *fakeRegistry) set(ms ...control.Mapping) {
	r.mu.Lock()
	r.mappings = ms
	r.mu.Unlock()
	r.changes.Add(1)
}
func (r *fakeRegistry) EventSourceMappings() []control.Mapping {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]control.Mapping(nil), r.mappings...)
}
func (r *fakeRegistry) MappingChanges() uint64          { return r.changes.Load() }
func (r *fakeRegistry) FunctionExists(string) bool      { return true }
func (r *fakeRegistry) FunctionArn(n string) string     { return "arn:aws:lambda:r:1:function:" + n }
func (r *fakeRegistry) QualifiedArn(n, q string) string { return r.FunctionArn(n) + ":" + q }
func (r *fakeRegistry) ConcurrencyLimits(string) (control.ConcurrencyLimits, error) {
	if r.reserved > 0 {
		return control.ConcurrencyLimits{Reserved: r.reserved, HasReserved: true}, nil
	}
	return control.ConcurrencyLimits{Unreserved: 1000}, nil
}

func run(t *testing.T, q *fakeQueue, inv *fakeInvoker, mp control.Mapping) (*Manager, *fakeRegistry) {
	t.Helper()
	reg := &fakeRegistry{}
	reg.set(mp)
	m := New(Config{Registry: reg, Queues: q, Invoker: inv, Region: "r", ScaleEvery: 20 * time.Millisecond})
	m.Start()
	t.Cleanup(m.Close)
	return m, reg
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mapping(batch int, window time.Duration) control.Mapping {
	return control.Mapping{UUID: "u1", FunctionName: "f", EventSourceArn: "arn:aws:sqs:r:1:q", BatchSize: batch, BatchingWindow: window, Enabled: true, Revision: 1}
}

func TestBatchesDeleteOnSuccess(t *testing.T) {
	q := newFakeQueue(95, func(int) string { return "x" })
	inv := &fakeInvoker{}
	run(t, q, inv, mapping(10, 0))
	eventually(t, "every message deleted", func() bool { _, _, d := q.counts(); return d == 95 })
	total := 0
	for _, b := range inv.invoked() {
		if len(b) > 10 {
			t.Errorf("batch of %d, BatchSize 10", len(b))
		}
		total += len(b)
	}
	if total != 95 {
		t.Errorf("invoked with %d messages, want 95", total)
	}
}

// With a batching window, a batch waits for more messages up to BatchSize.
func TestBatchingWindowFillsBatch(t *testing.T) {
	q := newFakeQueue(0, nil)
	inv := &fakeInvoker{}
	mp := mapping(25, 2*time.Second)
	reg := &fakeRegistry{}
	reg.set(mp)
	m := New(Config{Registry: reg, Queues: q, Invoker: inv, Region: "r", StartWorkers: 1, ScaleEvery: time.Hour})
	m.Start()
	defer m.Close()
	for i := 0; i < 25; i++ {
		q.mu.Lock()
		q.visible = append(q.visible, Message{MessageId: fmt.Sprintf("w%02d", i), Body: "b"})
		q.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	eventually(t, "one invocation", func() bool { return len(inv.invoked()) >= 1 })
	if b := inv.invoked()[0]; len(b) != 25 {
		t.Errorf("first batch has %d messages, want 25 (window 2 s)", len(b))
	}
}

func TestFunctionErrorKeepsBatch(t *testing.T) {
	q := newFakeQueue(3, func(int) string { return "x" })
	inv := &fakeInvoker{answer: func([]string) ([]byte, string, error) {
		return []byte(`{"errorMessage":"boom"}`), "Unhandled", nil
	}}
	run(t, q, inv, mapping(10, 0))
	eventually(t, "an invocation", func() bool { return len(inv.invoked()) > 0 })
	time.Sleep(50 * time.Millisecond)
	if _, inflight, deleted := q.counts(); deleted != 0 || inflight != 3 {
		t.Errorf("after a function error: %d deleted, %d in flight; want 0 and 3", deleted, inflight)
	}
}

func TestReportBatchItemFailures(t *testing.T) {
	q := newFakeQueue(4, func(int) string { return "x" })
	inv := &fakeInvoker{answer: func(ids []string) ([]byte, string, error) {
		return []byte(`{"batchItemFailures":[{"itemIdentifier":"m001"},{"itemIdentifier":"m003"}]}`), "", nil
	}}
	mp := mapping(10, time.Second)
	mp.ReportBatchItemFailures = true
	run(t, q, inv, mp)
	eventually(t, "two deleted", func() bool { _, _, d := q.counts(); return d == 2 })
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted["m001"] != 0 || q.deleted["m003"] != 0 || q.deleted["m000"] != 1 || q.deleted["m002"] != 1 {
		t.Errorf("deleted %v; want m000 and m002 only", q.deleted)
	}
}

func TestReportBatchItemFailuresUnknownIDFailsBatch(t *testing.T) {
	q := newFakeQueue(2, func(int) string { return "x" })
	inv := &fakeInvoker{answer: func(ids []string) ([]byte, string, error) {
		return []byte(`{"batchItemFailures":[{"itemIdentifier":"nope"}]}`), "", nil
	}}
	mp := mapping(10, time.Second)
	mp.ReportBatchItemFailures = true
	run(t, q, inv, mp)
	eventually(t, "an invocation", func() bool { return len(inv.invoked()) > 0 })
	time.Sleep(50 * time.Millisecond)
	if _, _, d := q.counts(); d != 0 {
		t.Errorf("%d deleted after an unknown itemIdentifier; want none", d)
	}
}

// Messages that match no filter are deleted without an invocation.
func TestFilterDeletesUnmatched(t *testing.T) {
	q := newFakeQueue(6, func(i int) string {
		if i%2 == 0 {
			return `{"kind":"keep"}`
		}
		return `{"kind":"drop"}`
	})
	inv := &fakeInvoker{}
	mp := mapping(10, time.Second)
	mp.Filters = []string{`{"body":{"kind":["keep"]}}`}
	run(t, q, inv, mp)
	eventually(t, "every message deleted", func() bool { _, _, d := q.counts(); return d == 6 })
	for _, b := range inv.invoked() {
		for _, id := range b {
			var n int
			fmt.Sscanf(id, "m%d", &n)
			if n%2 != 0 {
				t.Errorf("%s does not match the filter but was invoked", id)
			}
		}
	}
}

// A throttled invoke keeps the batch and tries it again.
func TestThrottleRetries(t *testing.T) {
	q := newFakeQueue(1, func(int) string { return "x" })
	var calls atomic.Int32
	inv := &fakeInvoker{answer: func([]string) ([]byte, string, error) {
		if calls.Add(1) <= 2 {
			return nil, "", errdefs.Throttled("ReservedFunctionConcurrentInvocationLimitExceeded", "Rate Exceeded.")
		}
		return nil, "", nil
	}}
	run(t, q, inv, mapping(10, 0))
	eventually(t, "deleted after throttles", func() bool { _, _, d := q.counts(); return d == 1 })
	if n := calls.Load(); n != 3 {
		t.Errorf("%d invokes, want 3 (two throttled)", n)
	}
}

// Disabling stops polling; enabling again resumes it; the worker count starts at
// min(5, MaximumConcurrency) and grows with a backlog up to it.
func TestDisableEnableAndScaling(t *testing.T) {
	q := newFakeQueue(0, nil)
	block := make(chan struct{})
	inv := &fakeInvoker{answer: func([]string) ([]byte, string, error) { <-block; return nil, "", nil }}
	mp := mapping(1, 0)
	mp.MaximumConcurrency = 8
	m, reg := run(t, q, inv, mp)
	eventually(t, "5 workers", func() bool { return m.Workers()["u1"] == 5 })
	q.mu.Lock()
	for i := 0; i < 200; i++ {
		q.visible = append(q.visible, Message{MessageId: fmt.Sprintf("s%03d", i), Body: "b"})
	}
	q.mu.Unlock()
	eventually(t, "scaled to MaximumConcurrency", func() bool { return m.Workers()["u1"] == 8 })
	time.Sleep(100 * time.Millisecond)
	if n := m.Workers()["u1"]; n > 8 {
		t.Errorf("%d workers, above MaximumConcurrency 8", n)
	}
	close(block)
	eventually(t, "queue drained", func() bool { v, f, _ := q.counts(); return v == 0 && f == 0 })
	eventually(t, "scaled back to 5", func() bool { return m.Workers()["u1"] == 5 })

	mp.Enabled, mp.Revision = false, 2
	reg.set(mp)
	eventually(t, "poller stopped", func() bool { _, ok := m.Workers()["u1"]; return !ok })
	time.Sleep(50 * time.Millisecond) // a worker settling its last batch finishes
	before := len(inv.invoked())
	q.mu.Lock()
	q.visible = append(q.visible, Message{MessageId: "late", Body: "b"})
	q.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	if len(inv.invoked()) != before {
		t.Fatal("a disabled mapping invoked")
	}
	mp.Enabled, mp.Revision = true, 3
	reg.set(mp)
	eventually(t, "resumed", func() bool { _, _, d := q.counts(); return d == 201 })
}

// The function's reservation bounds the workers below MaximumConcurrency, and a
// reservation of 0 (a throttled function) stops them.
func TestWorkersWithinReservation(t *testing.T) {
	q := newFakeQueue(0, nil)
	block := make(chan struct{})
	inv := &fakeInvoker{answer: func([]string) ([]byte, string, error) { <-block; return nil, "", nil }}
	reg := &fakeRegistry{reserved: 3}
	reg.set(mapping(1, 0))
	m := New(Config{Registry: reg, Queues: q, Invoker: inv, Region: "r", ScaleEvery: 10 * time.Millisecond})
	m.Start()
	defer m.Close()
	defer close(block) // before Close, which waits for the invocations
	q.mu.Lock()
	for i := 0; i < 50; i++ {
		q.visible = append(q.visible, Message{MessageId: fmt.Sprintf("r%02d", i), Body: "b"})
	}
	q.mu.Unlock()
	eventually(t, "3 batches in flight", func() bool { _, f, _ := q.counts(); return f == 3 })
	time.Sleep(200 * time.Millisecond)
	if n := m.Workers()["u1"]; n != 3 {
		t.Errorf("%d workers with a reservation of 3", n)
	}
	if _, f, _ := q.counts(); f != 3 {
		t.Errorf("%d batches in flight with a reservation of 3", f)
	}
}
