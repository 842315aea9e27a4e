package worker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
	"github.com/hearthfn/hearth/internal/sandbox"
)

// state is an env's lifecycle state.
type state int

const (
	stateStarting state = iota
	stateIdle
	stateFreezing // a Freeze call is under way, with no lock held
	stateFrozen
	stateBusy
	stateDead
)

func (s state) String() string {
	return [...]string{"Starting", "Idle", "Freezing", "Frozen", "Busy", "Dead"}[s]
}

// allowed lists each state's legal successors.
var allowed = map[state][]state{
	stateStarting: {stateIdle, stateBusy, stateDead},
	stateIdle:     {stateBusy, stateFreezing, stateDead},
	// An invocation may take a freezing env: it waits for the freeze to end, then thaws.
	stateFreezing: {stateFrozen, stateIdle, stateBusy, stateDead},
	stateFrozen:   {stateBusy, stateDead},
	stateBusy:     {stateIdle, stateDead},
	stateDead:     {},
}

// env is one execution environment.
type env struct {
	id        string
	key       string // Version.ConfigID
	fnVersion string // FunctionName + ":" + Version, for draining
	codeKey   string // Version.CodeKey: its unpacked code is not pruned while the env lives
	memMB     int
	prov      *provision // the provisioned concurrency config it was started for; nil: on-demand
	logStream string
	sb        sandbox.Sandbox
	stream    io.ReadWriteCloser
	// booted is closed once start has set sb and stream, or has given up before
	// it had a sandbox (sb stays nil). Shutdown waits on it: an env still booting
	// when the server stops has nothing to send a frame to yet.
	booted     chan struct{}
	bootClose  sync.Once
	wmu        sync.Mutex // serialises frame writes
	frames     chan *agentproto.Frame
	readerDone chan struct{}

	killing  atomic.Bool
	oomKills int64 // the sandbox's OOM-kill count when its last invocation ended (run's goroutine only)

	mu       sync.Mutex
	st       state
	lastUsed time.Time
	freezeT  *time.Timer
	// freezing is closed when the Freeze call under way ends (nil when none is);
	// frozen then says whether it froze the sandbox.
	freezing   chan struct{}
	frozen     bool
	log        *invocationLog // the init phase's or the invocation in flight's, fed by the reader
	logSink    func(text []byte)
	initTail   []byte        // the end of the init phase's log, the start of the first invocation's Tail
	initReport time.Duration // runtime start → first /next; reported once, on the first invocation
	bootReport time.Duration // sandbox start → runtime start (the platform's share of a cold start)
	// retireAt is when the env stops taking invocations because its credentials
	// are about to expire (zero: never).
	retireAt time.Time
}

// expiresBefore reports whether the env must retire before t (set at start, read-only after).
func (e *env) expiresBefore(t time.Time) bool {
	return !e.retireAt.IsZero() && t.After(e.retireAt)
}

// setState moves the env to next if the transition is legal.
func (e *env) setState(next state) error {
	for _, s := range allowed[e.st] {
		if s == next {
			e.st = next
			return nil
		}
	}
	return fmt.Errorf("env %s: illegal transition %s → %s", e.id, e.st, next)
}

// bootDone closes booted (once).
func (e *env) bootDone() { e.bootClose.Do(func() { close(e.booted) }) }

// send writes one frame to hearth-init.
func (e *env) send(kind agentproto.Kind, header any, body []byte) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return agentproto.Write(e.stream, kind, header, body)
}

// read pumps frames from hearth-init. Log frames are appended to the log of the
// invocation in flight here, so they stay ordered before that invocation's Result;
// output written between invocations goes straight to the log sink (each frame is
// at most agentproto.MaxFrame, and the sink bounds what waits for JetStream).
func (e *env) read() {
	defer close(e.readerDone)
	defer close(e.frames)
	// Buffered: a frame is then one read, not two (its length, then the rest).
	// Frames are read into one reused buffer: a log flood's frames are consumed
	// here and allocate nothing; others are copied before they leave.
	r := agentproto.NewReader(bufio.NewReaderSize(e.stream, 64<<10))
	for {
		f, err := r.Next()
		if err != nil {
			return
		}
		if f.Kind == agentproto.KindLog {
			e.mu.Lock()
			if e.log != nil {
				e.log.functionOutput(f.Body)
				e.mu.Unlock()
				continue
			}
			sink := e.logSink
			e.mu.Unlock()
			if sink != nil {
				sink(bytes.Clone(f.Body))
			}
			continue
		}
		e.frames <- f.Clone()
	}
}

// gone reports whether the env's sandbox or its stream to hearth-init has ended.
func (e *env) gone() bool {
	select {
	case <-e.sb.Done():
		return true
	case <-e.readerDone:
		return true
	default:
		return false
	}
}

// markDead records that the env can never serve again.
func (e *env) markDead() {
	e.mu.Lock()
	if e.freezeT != nil {
		e.freezeT.Stop()
	}
	e.st = stateDead
	e.mu.Unlock()
}

// kill tears the env down. The first call does the work; later calls return at
// once instead of waiting for it.
func (e *env) kill() {
	e.markDead()
	if !e.killing.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Dying processes still need CPU to exit; under a small function's quota a few
	// hundred of them (a fork bomb) took tens of seconds.
	if l, ok := e.sb.(sandbox.CPULimiter); ok {
		_ = l.LimitCPU(ctx, 0)
	}
	_ = e.sb.Kill(ctx)
	_ = e.stream.Close()
}
