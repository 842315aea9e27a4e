// Package worker runs execution environments: it keeps a pool of envs per function
// version, starts new ones (cold start) when none is idle, hands one invocation at a
// time to each, freezes envs that sit idle and reaps them after a TTL.
//
// An env's lifecycle (one state, one transition check in env.setState):
//
//	         start ok           Invoke            Result
//	Starting ───────▶ Idle ◀──────────────── Busy ◀──┐
//	    │              │  ╲──────────────────▶│      │
//	    │ init error   │ freeze after idle    │      │ timeout, runtime exit,
//	    ▼              ▼                      │      │ OOM, drained config
//	  Dead ◀──────── Frozen ── thaw ──▶ Busy  └─────▶ Dead
//	                   │ idle TTL
//	                   ▼
//	                 Dead
//
// The cold start is timed phase by phase: code (unpack the zip once per digest,
// shared read-only by every env of that code), sandbox (driver Start), init (the
// runtime's global scope until its first /next).
package worker
