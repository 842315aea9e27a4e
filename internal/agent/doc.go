// Package agent is hearth-init's inside of the sandbox: it serves the Lambda Runtime
// API to an unmodified runtime, supervises the runtime process as PID 1, captures its
// output, and speaks agentproto with the worker over one byte stream.
//
// One Agent serves one execution environment for its whole life:
//
//	worker ──Init──▶ agent: listen on the Runtime API, start the runtime (init phase)
//	runtime ──GET /next──▶ agent ──InitDone──▶ worker
//	worker ──Invoke──▶ agent ──200 event──▶ runtime's /next
//	runtime ──POST /response|/error──▶ agent ──Log*, Result──▶ worker
//	runtime exits ──▶ agent ──[Result Runtime.ExitError], RuntimeExit──▶ worker; exit
//	worker ──Shutdown | EOF──▶ agent: SIGTERM, 500 ms, SIGKILL; exit
//
// Lifecycle of the environment (State; every change goes through one check,
// State.CanTransition, via Agent.transition):
//
//	           GET /next
//	           (InitDone)         Invoke            POST …/response
//	Started ──────────────▶ Ready ───────▶ Running ────────────────▶ ResponseSent
//	   │                      ▲                     or …/error          │     │
//	   │                      └───────────── GET /next ─────────────────┘     │
//	   │                                      ▲                               │
//	   │                                      └───────────────────────────────┘
//	   │                                        Invoke before the next /next,
//	   │                                        or its body could not be read
//	   │ POST /init/error,
//	   ▼ init timeout
//	InitError
//
//	Ready ↺ GET /next (another waiter); Running ↺ GET /next (re-serves the same event)
//	any state ── the runtime process ends ──▶ Exited
//	Started, Ready, Running, ResponseSent, InitError
//	    ── Shutdown, stdin EOF, protocol error ──▶ ShuttingDown ──▶ Exited
//
// What the worker sees when the runtime process ends:
//   - in Started: InitError{Runtime.ExitError, "Runtime exited with error: exit status N"};
//   - with an invocation unanswered (Running, or ResponseSent before its Result went
//     out): Result{Error, Runtime.ExitError} for it, then RuntimeExit;
//   - otherwise: RuntimeExit;
//   - in InitError or ShuttingDown: nothing more; hearth-init exits.
//
// Ordering guarantees on the stream to the worker: every byte the runtime wrote to
// stdout/stderr before it posted an invocation's response or error is sent in Log
// frames tagged with that invocation's request id before the invocation's Result
// frame, and nothing tagged with that id follows it. Output written before the
// Invoke arrived is tagged "" and precedes the invocation's first Log. All output of
// the init phase precedes InitDone or InitError. Output between an InitError and the
// runtime's end still comes (tagged ""); nothing at all follows the frames written
// when the runtime ended.
//
// Log frames carry one line each, newline included; a line longer than MaxLogFrame
// comes in pieces, and a line still unfinished after 20 ms, or at an invocation's
// end, is sent as it is. Concatenating a stream's Log bodies gives back exactly what
// the runtime wrote.
//
// A worker that breaks the conversation (an Invoke before InitDone or while one is
// in flight, an unknown frame, a malformed stream) ends the environment: the
// runtime is killed, its pending output flushed, and hearth-init exits with
// ExitProtocol; no other frame follows.
package agent
