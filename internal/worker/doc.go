// Package worker runs execution environments: it keeps a pool of envs per function
// version, starts new ones (cold start) when none is idle, hands one invocation at a
// time to each, freezes envs that sit idle and reaps them after a TTL. Envs of a
// provisioned concurrency config are started ahead and kept (provision.go); they
// go through the same states, but from their own idle lists, which neither the
// reaper nor eviction reads.
//
// An env's lifecycle (one state, one transition check in env.setState):
//
//	         start ok           Invoke            Result
//	Starting ───────▶ Idle ◀──────────────── Busy ◀──┐
//	    │              │  ╲──────────────────▶│      │
//	    │ init error   │ idle FreezeAfter     │      │ timeout, runtime exit,
//	    ▼              ▼                      │      │ OOM, drained config
//	  Dead ◀──────── Freezing ── Invoke ───▶ Busy  └─────▶ Dead
//	                   │ (waits for the freeze, then thaws)
//	                   ▼
//	                 Frozen ── thaw ──▶ Busy
//	                   │ idle TTL
//	                   ▼
//	                 Dead
//
// Locks, always taken in this order and never held across a driver call that can
// be slow (start, freeze, thaw, kill):
//
//	Pool.mu   the books: idle lists, every env, memory in use, current configs,
//	          provisioned configs and the scaling rate's buckets
//	env.mu    one env's state, timers and the log of the invocation in flight
//	env.wmu   writes of frames to hearth-init (taken alone)
//
// Freeze runs in the Freezing state with no lock held; an invocation that takes a
// Freezing env waits on env.freezing and then thaws it.
//
// The cold start is timed phase by phase: code (unpack the zip once per digest,
// shared read-only by every env of that code), sandbox (driver Start), init (the
// runtime's global scope until its first /next).
package worker
