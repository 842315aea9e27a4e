package worker

import (
	"context"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
)

// An idle env's life after an invocation: frozen, reaped, shut down, or pruned
// with its code.

// freeze stops an idle env's processes (the drivers' cgroup freezers). The freeze
// itself runs with no lock held — it once took seconds (runsc pause) — so an invocation
// may take the env meanwhile: it waits on e.freezing, then thaws what was frozen.
func (p *Pool) freeze(e *env) {
	e.mu.Lock()
	if e.st != stateIdle || e.setState(stateFreezing) != nil {
		e.mu.Unlock()
		return
	}
	done := make(chan struct{})
	e.freezing, e.frozen = done, false
	e.mu.Unlock()

	err := e.sb.Freeze(context.Background())

	e.mu.Lock()
	e.freezing, e.frozen = nil, err == nil
	if e.st == stateFreezing {
		next := stateFrozen
		if err != nil {
			next = stateIdle
		}
		_ = e.setState(next)
	}
	e.mu.Unlock()
	close(done)
	if err != nil {
		p.log.Warn("freeze failed", "env", e.id, "err", err)
	}
}

// reap kills envs idle for longer than IdleTTL, and idle envs past their retirement.
func (p *Pool) reap() {
	t := time.NewTicker(min(p.cfg.IdleTTL/4, 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-p.stopReaper:
			return
		case <-t.C:
		}
		var victims []*env
		p.mu.Lock()
		for _, list := range p.idle {
			for _, e := range list {
				if time.Since(e.lastUsed) > p.cfg.IdleTTL || e.expiresBefore(time.Now()) {
					victims = append(victims, e)
				}
			}
		}
		for _, e := range victims {
			p.forgetLocked(e)
		}
		p.mu.Unlock()
		for _, e := range victims {
			e.shutdown()
		}
	}
}

// shutdown asks hearth-init to stop the runtime (its shutdown phase), then kills.
func (e *env) shutdown() {
	<-e.booted
	if e.sb == nil {
		e.markDead()
		return
	}
	e.mu.Lock()
	freezing := e.freezing
	e.mu.Unlock()
	if freezing != nil {
		<-freezing
	}
	e.mu.Lock()
	frozen := e.st == stateFrozen
	e.mu.Unlock()
	if frozen {
		_ = e.sb.Thaw(context.Background())
	}
	if e.send(agentproto.KindShutdown, agentproto.Shutdown{}, nil) == nil {
		select {
		case <-e.sb.Done():
		case <-time.After(time.Second):
		}
	}
	e.kill()
}

// PruneCode removes unpacked code that used does not list (the code of every
// function's $LATEST and versions) once it has gone unused for a while, and the idle
// envs that run such code: no invocation can reach them again. It returns how many
// directories went, and how many unused ones wait for their envs or their grace.
func (p *Pool) PruneCode(used map[string]bool) (removed, waiting int, err error) {
	p.mu.Lock()
	var orphans []*env
	for _, list := range p.idle {
		for _, e := range list {
			if !used[e.codeKey] {
				orphans = append(orphans, e)
			}
		}
	}
	for _, e := range orphans {
		p.forgetLocked(e)
	}
	running := make(map[string]bool, len(p.envs))
	busy := 0 // busy envs of unused code: idle, and then orphans, once they finish
	for _, e := range p.envs {
		running[e.codeKey] = true
		if !used[e.codeKey] {
			busy++
		}
	}
	p.mu.Unlock()
	for _, e := range orphans {
		go e.shutdown()
	}
	removed, waiting, err = p.code.prune(func(key string) bool { return used[key] || running[key] })
	return removed, waiting + busy, err
}
