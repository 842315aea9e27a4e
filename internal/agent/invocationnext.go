package agent

import (
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
)

// invocationNext serves GET /runtime/invocation/next: it blocks until an invocation
// is assigned and answers with the event. The runtime's first call ends the init
// phase. A call while an invocation is assigned and unanswered re-serves that event,
// as RAPID does, so a runtime that lost the connection can pick it up again.
func (a *Agent) invocationNext(c *conn) {
	a.mu.Lock()
	from := a.state
	to := StateReady
	if from == StateRunning {
		to = StateRunning
	}
	if !a.transition(to) {
		a.mu.Unlock()
		c.renderStateError(from, "Ready")
		return
	}
	if from == StateStarted {
		a.initDone()
	}
	var inv *invocation
	if to == StateRunning {
		inv = a.inv
	} else {
		a.waiters = append(a.waiters, c.wake)
	}
	a.mu.Unlock()

	// A runtime that hangs up while it waits is not noticed here: an invocation
	// handed to a dead connection stays Running, and the runtime's next /next (if it
	// lives) re-serves it.
	for inv == nil {
		<-c.wake
		a.mu.Lock()
		if a.state == StateRunning {
			inv = a.inv
		} else {
			a.waiters = append(a.waiters, c.wake) // answered meanwhile on another connection
		}
		a.mu.Unlock()
	}
	c.renderEvent(inv)
}

// initDone ends the init phase. Called with a.mu held.
func (a *Agent) initDone() {
	a.stopInitTimer()
	d := float64(time.Since(a.started).Nanoseconds()) / 1e6
	a.logs.boundary("", func() {
		a.out.frame(agentproto.KindInitDone, &agentproto.InitDone{DurationMs: d}, nil)
	})
}
