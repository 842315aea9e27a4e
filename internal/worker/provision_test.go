package worker

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Provisioned concurrency's bookkeeping against the fake driver: envs initialised
// ahead, taken first, never reaped or evicted, replaced when they die, released
// with their config; FAILED after repeated init failures; the scaling rate.

func (h *harness) published(fn string) *Version {
	v := h.version(fn, "v1")
	v.Version = "1"
	return v
}

func (h *harness) wantStatus(t *testing.T, id, rev string, n int, status string) ProvisionStatus {
	t.Helper()
	var st ProvisionStatus
	within(t, 10*time.Second, "config "+id+" never reached "+status, func() bool {
		st = h.pool.ProvisionStatus(id, rev, n)
		return st.Status == status
	})
	return st
}

func (h *harness) invokeProvisioned(t *testing.T, v *Version) (*Result, bool) {
	t.Helper()
	res, ok, err := h.pool.InvokeProvisioned(context.Background(), v, &Request{RequestID: "p", Payload: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	return res, ok
}

func initType(sb *fakeSandbox) string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, kv := range sb.initEnv {
		if v, ok := strings.CutPrefix(kv, "AWS_LAMBDA_INITIALIZATION_TYPE="); ok {
			return v
		}
	}
	return ""
}

func TestProvisionReadyTakenFirstThenSpillover(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IdleTTL = 30 * time.Millisecond })
	v := h.published("f")
	if st := h.pool.ProvisionStatus("f:1", "r1", 2); st.Status != "IN_PROGRESS" || st.Allocated != 0 {
		t.Fatalf("before Provision: %+v", st)
	}
	if err := h.pool.Provision("f:1", "r1", v, 2); err != nil {
		t.Fatal(err)
	}
	st := h.wantStatus(t, "f:1", "r1", 2, "READY")
	if st.Allocated != 2 || st.Available != 2 {
		t.Fatalf("READY: %+v", st)
	}
	for _, sb := range h.d.sandboxes() {
		if got := initType(sb); got != "provisioned-concurrency" {
			t.Errorf("a provisioned env's AWS_LAMBDA_INITIALIZATION_TYPE = %q", got)
		}
	}
	// Both taken at once; a third invocation meanwhile finds none free.
	h.pool.mu.Lock()
	e1, _, _ := h.pool.popIdleLocked(h.pool.provIdle, v.ConfigID, time.Now())
	h.pool.mu.Unlock()
	if e1 == nil {
		t.Fatal("no idle provisioned env")
	}
	res, ok := h.invokeProvisioned(t, v)
	if !ok || res.ColdStart || bytes.Contains(res.Log, []byte("Init Duration")) {
		t.Fatalf("the second provisioned env: ok %v, log:\n%s", ok, res.Log)
	}
	if busy := h.pool.ProvisionStatus("f:1", "r1", 2).Busy; busy != 1 {
		t.Errorf("one env held: Busy = %d", busy)
	}
	h.pool.mu.Lock()
	held := len(h.pool.provIdle[v.ConfigID])
	h.pool.mu.Unlock()
	if held != 1 {
		t.Fatalf("%d idle provisioned envs; want 1", held)
	}
	h.pool.release(e1)
	// Spill over: the on-demand path never takes a provisioned env.
	cold := h.invoke(t, v)
	if !cold.ColdStart || !bytes.Contains(cold.Log, []byte("Init Duration")) {
		t.Fatalf("on-demand invocation of a provisioned version: cold %v\n%s", cold.ColdStart, cold.Log)
	}
	sbs := h.d.sandboxes()
	if got := initType(sbs[len(sbs)-1]); got != "on-demand" {
		t.Errorf("the spill-over env's AWS_LAMBDA_INITIALIZATION_TYPE = %q", got)
	}
	// The idle TTL reaps the on-demand env, never the provisioned ones.
	within(t, 5*time.Second, "the on-demand env was not reaped", func() bool { return h.pool.Stats().Envs == 2 })
	time.Sleep(100 * time.Millisecond)
	if st := h.pool.ProvisionStatus("f:1", "r1", 2); st.Status != "READY" || st.Allocated != 2 {
		t.Fatalf("after the idle TTL: %+v", st)
	}
	for _, sb := range sbs[:2] {
		if _, _, killed := sb.counts(); killed != 0 {
			t.Fatal("the idle TTL reaped a provisioned env")
		}
	}
}

func TestProvisionedEnvsAreNotEvicted(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxEnvs = 3 })
	if err := h.pool.Provision("f:1", "r1", h.published("f"), 2); err != nil {
		t.Fatal(err)
	}
	h.wantStatus(t, "f:1", "r1", 2, "READY")
	h.invoke(t, h.version("a", "c1")) // the one on-demand slot
	// Another function's cold start evicts the idle on-demand env, never a
	// provisioned one.
	h.invoke(t, h.version("b", "c1"))
	if st := h.pool.ProvisionStatus("f:1", "r1", 2); st.Allocated != 2 {
		t.Fatalf("a cold start evicted a provisioned env: %+v", st)
	}
	// With the on-demand slot busy there is no room, and the answer is 429.
	e, _, err := h.pool.acquire(context.Background(), h.version("b", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.pool.release(e)
	_, _, err = h.pool.acquire(context.Background(), h.version("c", "c1"))
	if !errors.Is(err, errdefs.ErrTooManyRequests) {
		t.Fatalf("no room but provisioned envs: %v; want TooManyRequests", err)
	}
	// What does not fit beside the provisioned envs is refused up front.
	if err := h.pool.CheckProvision([]ProvisionDemand{{"f:1", 128, 2}, {"g:1", 128, 2}}); !errors.Is(err, errdefs.ErrInvalidParameter) || !strings.Contains(err.Error(), "--max-envs") {
		t.Fatalf("CheckProvision past the host's envs: %v", err)
	}
	if err := h.pool.CheckProvision([]ProvisionDemand{{"f:1", 128, 3}}); err != nil {
		t.Fatalf("CheckProvision within the host: %v", err)
	}
}

func TestProvisionReplacesDeadEnvsAndReleases(t *testing.T) {
	h := newHarness(t, nil)
	v := h.published("f")
	if err := h.pool.Provision("f:1", "r1", v, 2); err != nil {
		t.Fatal(err)
	}
	h.wantStatus(t, "f:1", "r1", 2, "READY")
	first := h.d.sandboxes()
	_ = first[0].Kill(context.Background()) // the sandbox dies on its own
	within(t, 10*time.Second, "the dead provisioned env was not replaced", func() bool {
		return len(h.d.sandboxes()) == 3 && h.pool.ProvisionStatus("f:1", "r1", 2).Allocated == 2
	})
	// A smaller config stops an extra env; a released one stops them all.
	if err := h.pool.Provision("f:1", "r2", v, 1); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "scaling down to 1 left 2 envs", func() bool { return h.pool.Stats().Envs == 1 })
	if st := h.pool.ProvisionStatus("f:1", "r2", 1); st.Status != "READY" {
		t.Fatalf("after scaling down: %+v", st)
	}
	if err := h.pool.Provision("f:1", "", nil, 0); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "a released config's envs still run", func() bool { return h.pool.Stats().Envs == 0 })
	if ids := h.pool.Provisions(); len(ids) != 0 {
		t.Fatalf("Provisions after release: %v", ids)
	}
	if _, ok := h.invokeProvisioned(t, v); ok {
		t.Fatal("an invocation ran on a released config's env")
	}
}

func TestProvisionFailsAfterRepeatedInitErrors(t *testing.T) {
	h := newHarness(t, nil)
	h.d.failInit = true
	if err := h.pool.Provision("f:1", "r1", h.published("f"), 2); err != nil {
		t.Fatal(err)
	}
	st := h.wantStatus(t, "f:1", "r1", 2, "FAILED")
	if st.StatusReason != "FUNCTION_ERROR_INIT_FAILURE" || st.Allocated != 0 {
		t.Fatalf("FAILED: %+v", st)
	}
	tried := len(h.d.sandboxes())
	if tried < provisionAttempts {
		t.Fatalf("%d init attempts before FAILED; want at least %d", tried, provisionAttempts)
	}
	time.Sleep(3 * provisionTick)
	if n := len(h.d.sandboxes()); n > tried+provisionParallel {
		t.Fatalf("a FAILED config kept trying: %d inits, %d when it failed", n, tried)
	}
	// A new revision (a new Put) tries again.
	h.d.failInit = false
	if err := h.pool.Provision("f:1", "r2", h.published("f"), 2); err != nil {
		t.Fatal(err)
	}
	h.wantStatus(t, "f:1", "r2", 2, "READY")
}

func TestScalingRate(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ScalingRate = 2 })
	v := h.version("f", "c1")
	var held []*env
	for range 2 {
		e, cold, err := h.pool.acquire(context.Background(), v)
		if err != nil || !cold {
			t.Fatalf("new env within the rate: %v", err)
		}
		held = append(held, e)
	}
	_, _, err := h.pool.acquire(context.Background(), v)
	if errdefs.Reason(err) != ReasonScaling || errdefs.RetryAfter(err) < 1 {
		t.Fatalf("a third new env in the same moment: %v (reason %q, retry after %d)", err, errdefs.Reason(err), errdefs.RetryAfter(err))
	}
	// Warm envs are not limited, and another function has its own rate.
	h.pool.release(held[0])
	e, cold, err := h.pool.acquire(context.Background(), v)
	if err != nil || cold {
		t.Fatalf("a warm env past the rate: %v, cold %v", err, cold)
	}
	h.pool.release(e)
	h.pool.release(held[1])
	if res := h.invoke(t, h.version("g", "c1")); !res.ColdStart {
		t.Fatal("another function's first invocation was not a cold start")
	}
}
