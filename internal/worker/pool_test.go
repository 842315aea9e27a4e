package worker

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/sandbox"
)

// The pool's own logic — warm reuse, scale-out, freezing, eviction, draining, the
// reaper — against a fake driver whose "hearth-init" is a goroutine speaking
// agentproto. The real drivers and hearth-init are exercised end to end in test/e2e.

type fakeDriver struct {
	mu      sync.Mutex
	started []*fakeSandbox
	// freezeGate, when set, holds every Freeze until it is closed.
	freezeGate chan struct{}
	// failInit, when set, fails every init phase.
	failInit bool
}

func (d *fakeDriver) Name() string { return "fake" }
func (d *fakeDriver) Capabilities() sandbox.Capabilities {
	return sandbox.Capabilities{Freeze: true}
}

func (d *fakeDriver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	ours, theirs := net.Pipe()
	sb := &fakeSandbox{id: spec.ID, stream: ours, done: make(chan struct{}), d: d}
	d.mu.Lock()
	d.started = append(d.started, sb)
	d.mu.Unlock()
	go sb.init(theirs)
	return sb, nil
}

func (d *fakeDriver) sandboxes() []*fakeSandbox {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*fakeSandbox(nil), d.started...)
}

type fakeSandbox struct {
	id     string
	stream net.Conn
	d      *fakeDriver

	mu                     sync.Mutex
	freezes, thaws, killed int
	frozen                 bool
	initEnv                []string // the runtime's environment, from Init
	done                   chan struct{}
	closeOnce              sync.Once
}

// init plays hearth-init: InitDone for Init, a Result naming the sandbox for each
// Invoke.
func (s *fakeSandbox) init(c net.Conn) {
	defer c.Close()
	for {
		f, err := agentproto.Read(c)
		if err != nil {
			return
		}
		switch f.Kind {
		case agentproto.KindInit:
			var in agentproto.Init
			_ = f.Decode(&in)
			s.mu.Lock()
			s.initEnv = in.Env
			s.mu.Unlock()
			if s.d.failInit {
				err = agentproto.Write(c, agentproto.KindInitError, agentproto.InitError{ErrorType: "Runtime.ImportModuleError", Message: "no module"}, nil)
				break
			}
			err = agentproto.Write(c, agentproto.KindInitDone, agentproto.InitDone{DurationMs: 1}, nil)
		case agentproto.KindInvoke:
			var in agentproto.Invoke
			_ = f.Decode(&in)
			_ = agentproto.Write(c, agentproto.KindLog, agentproto.Log{RequestID: in.RequestID, Stream: "stdout"}, []byte("hello\n"))
			err = agentproto.Write(c, agentproto.KindResult, agentproto.Result{RequestID: in.RequestID}, []byte(s.id))
		case agentproto.KindShutdown:
			s.exit()
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *fakeSandbox) exit() { s.closeOnce.Do(func() { close(s.done) }) }

func (s *fakeSandbox) ID() string                 { return s.id }
func (s *fakeSandbox) Stream() io.ReadWriteCloser { return s.stream }
func (s *fakeSandbox) Freeze(ctx context.Context) error {
	if g := s.d.freezeGate; g != nil {
		<-g
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freezes++
	s.frozen = true
	return nil
}
func (s *fakeSandbox) Thaw(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.thaws++
	s.frozen = false
	return nil
}
func (s *fakeSandbox) Stats(ctx context.Context) (sandbox.Stats, error) {
	return sandbox.Stats{MemoryPeakBytes: 10 << 20}, nil
}
func (s *fakeSandbox) Kill(ctx context.Context) error {
	s.mu.Lock()
	s.killed++
	s.mu.Unlock()
	s.exit()
	return s.stream.Close()
}
func (s *fakeSandbox) Done() <-chan struct{} { return s.done }
func (s *fakeSandbox) Err() error            { return nil }

func (s *fakeSandbox) counts() (freezes, thaws, killed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.freezes, s.thaws, s.killed
}

type fakeCode struct{ zip []byte }

func (c fakeCode) Code(ctx context.Context, sha string) ([]byte, error) { return c.zip, nil }

type harness struct {
	pool *Pool
	d    *fakeDriver
	key  string
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("bootstrap")
	_, _ = w.Write([]byte("#!/bin/sh\n"))
	_ = zw.Close()
	sum := sha256.Sum256(buf.Bytes())
	dir := t.TempDir()
	initBin := filepath.Join(dir, "hearth-init")
	if err := os.WriteFile(initBin, []byte("not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := &fakeDriver{}
	cfg := Config{
		Driver: d, DataDir: dir, InitBinary: initBin, Code: fakeCode{buf.Bytes()}, Region: "us-east-1",
		MaxEnvs: 8, MaxMemoryMB: 8 * 128, FreezeAfter: -1, IdleTTL: time.Hour,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return &harness{pool: p, d: d, key: hex.EncodeToString(sum[:])}
}

func (h *harness) version(fn, config string) *Version {
	return &Version{
		FunctionName: fn, FunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:" + fn, Version: "$LATEST",
		Runtime: "provided.al2023", Handler: "bootstrap", MemoryMB: 128, TimeoutSec: 3, EphemeralMB: 512,
		CodeKey: h.key, ConfigID: fn + "/" + config,
	}
}

var reqSeq struct {
	sync.Mutex
	n int
}

func (h *harness) invoke(t *testing.T, v *Version) *Result {
	t.Helper()
	reqSeq.Lock()
	reqSeq.n++
	id := fmt.Sprintf("req-%d", reqSeq.n)
	reqSeq.Unlock()
	res, err := h.pool.Invoke(context.Background(), v, &Request{RequestID: id, Payload: []byte("{}")})
	if err != nil {
		t.Fatalf("invoke %s: %v", v.FunctionName, err)
	}
	if res.FunctionError != "" {
		t.Fatalf("invoke %s: function error %s", v.FunctionName, res.Payload)
	}
	return res
}

// within fails the test unless cond holds before d passes.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPoolWarmReuseAndLog(t *testing.T) {
	h := newHarness(t, nil)
	v := h.version("f", "c1")
	first := h.invoke(t, v)
	second := h.invoke(t, v)
	if !first.ColdStart || second.ColdStart {
		t.Fatalf("cold starts %v, %v; want true, false", first.ColdStart, second.ColdStart)
	}
	if string(first.Payload) != string(second.Payload) || len(h.d.sandboxes()) != 1 {
		t.Fatalf("two sequential invocations used %d sandboxes (%s, %s); want one, reused", len(h.d.sandboxes()), first.Payload, second.Payload)
	}
	for _, want := range []string{"START RequestId: ", "hello\n", "END RequestId: ", "REPORT RequestId: "} {
		if !bytes.Contains(second.Log, []byte(want)) {
			t.Errorf("log lacks %q:\n%s", want, second.Log)
		}
	}
	if !bytes.Contains(first.Log, []byte("Init Duration:")) || bytes.Contains(second.Log, []byte("Init Duration:")) {
		t.Errorf("Init Duration belongs to the cold start's REPORT only:\n%s\n%s", first.Log, second.Log)
	}
}

func TestPoolScalesOutOneInvocationPerEnv(t *testing.T) {
	h := newHarness(t, nil)
	v := h.version("f", "c1")
	// Hold the first env busy: its "runtime" answers only after the second started.
	var wg sync.WaitGroup
	e1, cold, err := h.pool.acquire(context.Background(), v)
	if err != nil || !cold {
		t.Fatalf("acquire: %v, cold %v", err, cold)
	}
	wg.Add(1)
	go func() { defer wg.Done(); h.invoke(t, v) }()
	wg.Wait()
	h.pool.release(e1)
	if n := len(h.d.sandboxes()); n != 2 {
		t.Fatalf("an invocation while the only env was busy used %d sandboxes; want 2", n)
	}
	if st := h.pool.Stats(); st.Envs != 2 || st.Idle != 2 {
		t.Fatalf("stats %+v; want 2 idle envs", st)
	}
}

// A freeze that takes long (runsc pause under load) holds no lock another
// invocation needs; the invocation that wants the freezing env waits for the freeze
// and thaws it.
func TestPoolFreezeHoldsNoLock(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, func(c *Config) { c.FreezeAfter = time.Millisecond })
	h.d.freezeGate = gate
	a, b := h.version("a", "c1"), h.version("b", "c1")
	h.invoke(t, a)
	sbA := h.d.sandboxes()[0]
	// a's env is now stuck in Freeze.
	within(t, 5*time.Second, "a's env never started freezing", func() bool {
		h.pool.mu.Lock()
		defer h.pool.mu.Unlock()
		for _, e := range h.pool.envs {
			e.mu.Lock()
			st := e.st
			e.mu.Unlock()
			if st == stateFreezing {
				return true
			}
		}
		return false
	})

	// Another function's cold and warm invocations, and Stats, go on meanwhile.
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.invoke(t, b)
		_ = h.pool.Stats()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("an invocation of another function waited on a freeze under way")
	}

	// a's next invocation takes the freezing env, waits for the freeze, thaws it.
	got := make(chan *Result, 1)
	go func() { got <- h.invoke(t, a) }()
	select {
	case <-got:
		t.Fatal("the invocation ran on an env whose freeze had not ended")
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	var res *Result
	select {
	case res = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the invocation never ran after the freeze ended")
	}
	if res.ColdStart || string(res.Payload) != sbA.id {
		t.Fatalf("a's invocation ran on %s (cold %v); want its warm env %s", res.Payload, res.ColdStart, sbA.id)
	}
	if freezes, thaws, _ := sbA.counts(); freezes < 1 || thaws < 1 {
		t.Fatalf("a's env was frozen %d and thawed %d times; want both", freezes, thaws)
	}
}

// At the host's cap, the least recently used idle env of another function goes
// first; with none idle, the invocation is throttled.
func TestPoolEvictsLeastRecentlyUsed(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxEnvs = 2 })
	a, b, c := h.version("a", "c1"), h.version("b", "c1"), h.version("c", "c1")
	h.invoke(t, a)
	h.invoke(t, b)
	h.invoke(t, a) // b is now the least recently used
	sb := h.d.sandboxes()
	h.invoke(t, c)
	if _, _, killed := sb[1].counts(); killed == 0 {
		t.Fatal("b's env (least recently used) was not evicted")
	}
	if _, _, killed := sb[0].counts(); killed != 0 {
		t.Fatal("a's env (recently used) was evicted")
	}

	// Both envs busy: no room, a clear 429.
	e1, _, err := h.pool.acquire(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	e2, _, err := h.pool.acquire(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = h.pool.acquire(context.Background(), b)
	if !errors.Is(err, errdefs.ErrTooManyRequests) {
		t.Fatalf("acquire at capacity with every env busy: %v; want TooManyRequests", err)
	}
	h.pool.release(e1)
	h.pool.release(e2)
}

// New code or configuration drains the old config's envs: idle ones at once, busy
// ones when their invocation ends.
func TestPoolDrainsReplacedConfig(t *testing.T) {
	h := newHarness(t, nil)
	old, next := h.version("f", "c1"), h.version("f", "c2")
	h.invoke(t, old)
	busy, _, err := h.pool.acquire(context.Background(), old) // the idle one, now busy
	if err != nil {
		t.Fatal(err)
	}
	h.invoke(t, old) // a second env of the old config, left idle
	sb := h.d.sandboxes()
	if len(sb) != 2 {
		t.Fatalf("%d sandboxes; want 2", len(sb))
	}
	res := h.invoke(t, next)
	if !res.ColdStart {
		t.Fatal("the new config ran on an old env")
	}
	within(t, 5*time.Second, "the old config's idle env was not killed", func() bool {
		_, _, k := sb[1].counts()
		return k > 0
	})
	if _, _, k := sb[0].counts(); k != 0 {
		t.Fatal("the old config's busy env was killed mid-invocation")
	}
	h.pool.release(busy)
	within(t, 5*time.Second, "the old config's busy env was not killed when it finished", func() bool {
		_, _, k := sb[0].counts()
		return k > 0
	})
}

// An env idle past IdleTTL is shut down by the reaper.
func TestPoolReapsIdleEnvs(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IdleTTL = 40 * time.Millisecond })
	h.invoke(t, h.version("f", "c1"))
	sb := h.d.sandboxes()[0]
	within(t, 5*time.Second, "the idle env was not reaped", func() bool {
		select {
		case <-sb.done:
			return true
		default:
			return false
		}
	})
	within(t, 5*time.Second, "the reaped env is still counted", func() bool { return h.pool.Stats().Envs == 0 })
}

func TestEnvStateTransitions(t *testing.T) {
	legal := map[[2]state]bool{}
	for from, tos := range allowed {
		for _, to := range tos {
			legal[[2]state{from, to}] = true
		}
	}
	for from := stateStarting; from <= stateDead; from++ {
		for to := stateStarting; to <= stateDead; to++ {
			e := &env{id: "x", st: from}
			err := e.setState(to)
			if legal[[2]state{from, to}] != (err == nil) {
				t.Errorf("%s → %s: err %v", from, to, err)
			}
		}
	}
	if (&env{st: stateDead}).setState(stateIdle) == nil {
		t.Error("a dead env came back")
	}
}
