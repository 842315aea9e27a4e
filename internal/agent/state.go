package agent

import (
	"errors"
	"fmt"
)

// State is where the execution environment is in its lifecycle, seen from the
// Runtime API. The diagram is in doc.go.
type State uint8

// The states. Names follow the Lambda runtime interface emulator (RAPID) where it
// has one.
const (
	// StateStarted: the runtime process runs its init phase; it has not called
	// GET /runtime/invocation/next yet.
	StateStarted State = iota
	// StateReady: the runtime waits in /next (or is about to) and no invocation
	// is assigned.
	StateReady
	// StateRunning: an invocation is assigned to the runtime (handed to its /next,
	// or waiting for its next /next) and the runtime has not answered it.
	StateRunning
	// StateResponseSent: the runtime answered the invocation (response or error)
	// and has not called /next again.
	StateResponseSent
	// StateInitError: the init phase failed (/init/error, timeout); the runtime is
	// being stopped.
	StateInitError
	// StateShuttingDown: the worker asked for shutdown (or went away); the runtime
	// is being stopped.
	StateShuttingDown
	// StateExited: the runtime process is gone. Terminal.
	StateExited
	numStates
)

func (s State) String() string {
	switch s {
	case StateStarted:
		return "Started"
	case StateReady:
		return "Ready"
	case StateRunning:
		return "Running"
	case StateResponseSent:
		return "ResponseSent"
	case StateInitError:
		return "InitError"
	case StateShuttingDown:
		return "ShuttingDown"
	case StateExited:
		return "Exited"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// transitions[from] is the set of states reachable from `from`, one bit per state.
// It is the only place that says which moves are legal.
var transitions = [numStates]uint8{
	StateStarted:      bits(StateReady, StateInitError, StateShuttingDown, StateExited),
	StateReady:        bits(StateReady, StateRunning, StateShuttingDown, StateExited),
	StateRunning:      bits(StateRunning, StateResponseSent, StateShuttingDown, StateExited),
	StateResponseSent: bits(StateReady, StateRunning, StateShuttingDown, StateExited),
	StateInitError:    bits(StateShuttingDown, StateExited),
	StateShuttingDown: bits(StateExited),
	StateExited:       0,
}

func bits(states ...State) uint8 {
	var b uint8
	for _, s := range states {
		b |= 1 << s
	}
	return b
}

// ErrNotAllowed is RAPID's error for an illegal state transition; its text is part
// of the InvalidStateTransition message runtimes see.
var ErrNotAllowed = errors.New("State transition is not allowed")

// CanTransition is the single transition check: every state change goes through it
// (Agent.transition).
func (s State) CanTransition(to State) bool {
	return s < numStates && to < numStates && transitions[s]&(1<<to) != 0
}
