package worker

import (
	"context"
	"errors"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Provisioned concurrency: envs of a published version initialised ahead of any
// invocation (with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency), kept
// while the config lasts. Invocations of the version take an idle one first and
// spill over to on-demand envs. The idle TTL never reaps them and no other
// function's cold start evicts them; one that dies, or whose credentials near
// their expiry, is replaced. Each config is tended by its own goroutine.

// provisionAttempts is how many init phases in a row may fail before a config is
// FAILED (AWS tries six).
const provisionAttempts = 6

// provisionParallel bounds the inits one config runs at once, so that a large
// config does not take every core from the invocations already running.
const provisionParallel = 4

// provisionTick is how often a config's goroutine checks on its envs.
const provisionTick = time.Second

// provision is one provisioned concurrency config on this host.
type provision struct {
	id   string
	rev  string   // the config's revision (a new Put starts over after FAILED)
	v    *Version // whose envs; replaced when an alias moves
	want int

	envs     map[*env]bool // its initialised, live envs (idle or busy)
	starting int
	fails    int    // init phases failed in a row
	failure  string // StatusReason once it gave up; "" while it tries

	kick chan struct{}
	stop chan struct{}
}

// kickLocked wakes the config's goroutine (called with the pool's lock held).
func (pr *provision) kickLocked() {
	select {
	case pr.kick <- struct{}{}:
	default:
	}
}

// ProvisionStatus is a config's allocation, as GetProvisionedConcurrencyConfig
// reports it, and how many of its envs are running an invocation.
type ProvisionStatus struct {
	Status       string // IN_PROGRESS, READY or FAILED
	StatusReason string
	Allocated    int
	Available    int
	Busy         int
}

// ProvisionDemand is one config's claim on the host: N envs of MemoryMB.
type ProvisionDemand struct {
	ID       string
	MemoryMB int
	N        int
}

// CheckProvision reports whether every config in all fits this host together:
// provisioned envs are never evicted, so what does not fit must be refused when
// the config is put, not found later. The registry asks with the whole set it is
// about to store (not this pool's, which lags it), so two Puts cannot both take
// the last room.
func (p *Pool) CheckProvision(all []ProvisionDemand) error {
	envs, mb := 0, 0
	for _, d := range all {
		envs += d.N
		mb += d.N * d.MemoryMB
	}
	if envs > p.cfg.MaxEnvs || mb > p.cfg.MaxMemoryMB {
		return errdefs.New(errdefs.ErrInvalidParameter,
			"Requested Provisioned Concurrency does not fit this Hearth host: with the other provisioned concurrency it needs %d execution environments and %d MB, and the host runs at most %d and %d MB (hearth serve --max-envs, --max-memory-mb).",
			envs, mb, p.cfg.MaxEnvs, p.cfg.MaxMemoryMB)
	}
	return nil
}

// checkProvisionLocked is CheckProvision for the pool's own configs with id's
// replaced by n envs of memMB: what the reconciler takes on must fit too (a
// restart with smaller caps, say).
func (p *Pool) checkProvisionLocked(id string, memMB, n int) error {
	all := []ProvisionDemand{{ID: id, MemoryMB: memMB, N: n}}
	for other, pr := range p.provs {
		if other != id {
			all = append(all, ProvisionDemand{ID: other, MemoryMB: pr.v.MemoryMB, N: pr.want})
		}
	}
	return p.CheckProvision(all)
}

// Provision keeps n initialised envs of v for the config id; n = 0 (or v nil)
// releases the config: its idle envs stop now, busy ones when they finish. rev is
// the config's revision: a FAILED config is tried again only when it changes.
func (p *Pool) Provision(id, rev string, v *Version, n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.provs[id]
	if v == nil || n <= 0 {
		if pr != nil {
			delete(p.provs, id)
			close(pr.stop)
			p.detachLocked(pr, func(*env) bool { return true })
		}
		return nil
	}
	if p.closed {
		return errdefs.New(errdefs.ErrService, "the worker is shutting down")
	}
	if err := p.checkProvisionLocked(id, v.MemoryMB, n); err != nil {
		return err
	}
	if pr == nil {
		pr = &provision{id: id, envs: map[*env]bool{}, kick: make(chan struct{}, 1), stop: make(chan struct{})}
		p.provs[id] = pr
		go p.tend(pr)
	}
	if pr.v != nil && pr.v.ConfigID != v.ConfigID {
		// The alias moved to another version: the old version's envs go.
		old := pr.v.ConfigID
		p.detachLocked(pr, func(e *env) bool { return e.key == old })
	}
	if rev != pr.rev {
		pr.rev, pr.fails, pr.failure = rev, 0, ""
	}
	vc := *v
	pr.v, pr.want = &vc, n
	pr.kickLocked()
	return nil
}

// detachLocked takes pr's envs that match off its books: idle ones stop now, busy
// ones are discarded when they finish (release finds them no longer counted).
func (p *Pool) detachLocked(pr *provision, match func(*env) bool) {
	var stop []*env
	for e := range pr.envs {
		if !match(e) {
			continue
		}
		delete(pr.envs, e)
		e.mu.Lock()
		idle := e.st == stateIdle || e.st == stateFreezing || e.st == stateFrozen
		e.mu.Unlock()
		if idle {
			p.forgetLocked(e)
			stop = append(stop, e)
		}
	}
	for _, e := range stop {
		go e.shutdown()
	}
}

// Provisions lists the ids of the configs this host provisions.
func (p *Pool) Provisions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.provs))
	for id := range p.provs {
		ids = append(ids, id)
	}
	return ids
}

// ProvisionStatus reports the config id at revision rev with requested envs: READY
// once that many are initialised, FAILED once its inits gave up, else IN_PROGRESS
// (as it is before this host has seen the revision at all).
func (p *Pool) ProvisionStatus(id, rev string, requested int) ProvisionStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.provs[id]
	if pr == nil {
		return ProvisionStatus{Status: "IN_PROGRESS"}
	}
	st := ProvisionStatus{}
	for e := range pr.envs {
		if e.key != pr.v.ConfigID {
			continue
		}
		st.Allocated++
		e.mu.Lock()
		if e.st == stateBusy {
			st.Busy++
		}
		e.mu.Unlock()
	}
	st.Allocated = min(st.Allocated, requested)
	st.Available = st.Allocated
	switch {
	case pr.rev != rev:
		st.Status = "IN_PROGRESS"
	case pr.failure != "":
		st.Status, st.StatusReason = "FAILED", pr.failure
	case st.Allocated >= requested:
		st.Status = "READY"
	default:
		st.Status = "IN_PROGRESS"
	}
	return st
}

// InvokeProvisioned runs req on an idle provisioned env of v, if there is one
// (false: none is free; the caller goes on-demand).
func (p *Pool) InvokeProvisioned(ctx context.Context, v *Version, req *Request) (*Result, bool, error) {
	p.mu.Lock()
	if len(p.provIdle[v.ConfigID]) == 0 {
		p.mu.Unlock()
		return nil, false, nil
	}
	until := time.Now().Add(time.Duration(v.TimeoutSec) * time.Second)
	for {
		e, wake, stale := p.popIdleLocked(p.provIdle, v.ConfigID, until)
		p.mu.Unlock()
		for _, x := range stale {
			go x.shutdown()
		}
		if e == nil {
			return nil, false, nil
		}
		if err := wake(ctx); err != nil {
			p.discard(e)
			p.mu.Lock()
			continue
		}
		res := p.run(ctx, e, v, req)
		p.release(e)
		return res, true, nil
	}
}

// tend keeps pr's envs: it replaces dead and retiring ones, starts what is
// missing, and stops what a smaller config no longer needs.
func (p *Pool) tend(pr *provision) {
	t := time.NewTicker(provisionTick)
	defer t.Stop()
	for {
		select {
		case <-pr.stop:
			return
		case <-p.stopReaper:
			return
		case <-pr.kick:
		case <-t.C:
		}
		p.tendOnce(pr)
	}
}

func (p *Pool) tendOnce(pr *provision) {
	p.mu.Lock()
	if p.closed || p.provs[pr.id] != pr {
		p.mu.Unlock()
		return
	}
	v := pr.v
	// An env retires while it still has time to finish an invocation, and is
	// replaced before it goes so the allocation does not dip.
	lead := time.Now().Add(time.Duration(v.TimeoutSec)*time.Second + 2*provisionTick)
	var stop []*env
	fresh, idleStale := 0, []*env(nil)
	for e := range pr.envs {
		if e.gone() {
			p.forgetLocked(e)
			stop = append(stop, e)
			continue
		}
		if e.expiresBefore(lead) {
			if isIdle(e) {
				idleStale = append(idleStale, e)
			}
			continue
		}
		fresh++
	}
	if fresh >= pr.want {
		for _, e := range idleStale {
			p.forgetLocked(e)
			stop = append(stop, e)
		}
	}
	// A smaller config: idle extras go.
	for e := range pr.envs {
		if len(pr.envs) <= pr.want {
			break
		}
		if isIdle(e) {
			p.forgetLocked(e)
			stop = append(stop, e)
			if !e.expiresBefore(lead) {
				fresh--
			}
		}
	}
	need := min(pr.want-fresh-pr.starting, provisionParallel-pr.starting)
	if pr.failure != "" {
		need = 0
	}
	var starts []*env
	for range max(need, 0) {
		victims, err := p.makeRoomLocked(v.MemoryMB, false)
		stop = append(stop, victims...)
		if err != nil {
			break // busy on-demand envs hold the room: next tick
		}
		e := &env{id: newID(), key: v.ConfigID, fnVersion: v.FunctionName + ":" + v.Version, codeKey: v.CodeKey, memMB: v.MemoryMB, st: stateStarting, prov: pr, booted: make(chan struct{})}
		p.envs[e.id] = e
		p.usedMB += e.memMB
		pr.starting++
		starts = append(starts, e)
	}
	p.mu.Unlock()
	for _, e := range stop {
		go e.shutdown()
	}
	for _, e := range starts {
		go p.startProvisioned(pr, e, v)
	}
}

func isIdle(e *env) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st == stateIdle || e.st == stateFreezing || e.st == stateFrozen
}

// startProvisioned runs one provisioned env's init phase and, if it succeeds and
// the config still wants it, puts it in the config's idle list.
func (p *Pool) startProvisioned(pr *provision, e *env, v *Version) {
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout+30*time.Second)
	defer cancel()
	err := p.start(ctx, e, v)
	p.mu.Lock()
	pr.starting--
	if err != nil {
		p.forgetLocked(e)
		pr.fails++
		if pr.fails >= provisionAttempts && pr.failure == "" {
			pr.failure = "FUNCTION_ERROR_INIT_FAILURE"
			var ie *InitError
			if !errors.As(err, &ie) {
				pr.failure = errdefs.Message(err)
			}
			p.log.Warn("provisioned concurrency failed", "config", pr.id, "err", err)
		}
		p.mu.Unlock()
		return
	}
	current := p.provs[pr.id] == pr && pr.v.ConfigID == e.key && !p.closed
	if !current {
		p.forgetLocked(e)
		p.mu.Unlock()
		e.shutdown()
		return
	}
	pr.fails = 0
	pr.envs[e] = true
	e.mu.Lock()
	_ = e.setState(stateIdle)
	e.lastUsed = time.Now()
	if p.cfg.FreezeAfter > 0 {
		e.freezeT = time.AfterFunc(p.cfg.FreezeAfter, func() { p.freeze(e) })
	}
	e.mu.Unlock()
	p.provIdle[e.key] = append(p.provIdle[e.key], e)
	pr.kickLocked()
	p.mu.Unlock()
}
