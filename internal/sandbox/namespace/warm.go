//go:build linux

package namespace

import (
	"runtime"
	"sync"
	"time"
)

// warmPool keeps setup processes started ahead of Start: cloned into their
// namespaces and a cgroup of their own, Go runtime initialised, loopback up,
// blocked reading their config. That takes process start-up and the cgroup
// migration (together most of a cold Start) off the critical path.
type warmPool struct {
	size  int
	spawn func() (*setupProc, error)

	mu       sync.Mutex
	idle     []*setupProc
	filling  bool
	closed   bool
	timer    *time.Timer // the pending refill
	lastTake time.Time
	wg       sync.WaitGroup
}

// take returns an idle process, or nil.
func (w *warmPool) take() *setupProc {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastTake = time.Now()
	if len(w.idle) == 0 {
		return nil
	}
	p := w.idle[0] // the oldest is the most likely to be ready
	w.idle = w.idle[1:]
	return p
}

// refillDelay is how long after a Start the pool tops itself up. Starting a
// setup process costs a few ms of CPU and, on cgroup v1, placing it in its cgroup
// holds the kernel's cgroup_mutex for an RCU grace period; done at once, both
// would slow the sandbox just started (its runtime is starting up).
const refillDelay = 100 * time.Millisecond

// refill tops the pool up in the background once no Start has come for
// refillDelay. During a burst each Start pushes the refill back: a refill then
// would fork setup processes nobody takes, through the spawner thread the burst's
// own cold Starts are queued on.
func (w *warmPool) refill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer == nil {
		w.timer = time.AfterFunc(refillDelay, w.refillNow)
		return
	}
	w.timer.Reset(refillDelay)
}

func (w *warmPool) refillNow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refillLocked()
}

func (w *warmPool) refillLocked() {
	if w.size <= 0 || w.filling || w.closed || len(w.idle) >= w.size {
		return
	}
	w.filling = true
	w.wg.Add(1)
	go w.fill()
}

func (w *warmPool) fill() {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		if w.closed || len(w.idle) >= w.size {
			w.filling = false
			w.mu.Unlock()
			return
		}
		if !w.lastTake.IsZero() && time.Since(w.lastTake) < refillDelay {
			// A burst began while filling: stop, and finish after it.
			w.filling = false
			if w.timer != nil {
				w.timer.Reset(refillDelay)
			}
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		p, err := w.spawn()
		w.mu.Lock()
		if err != nil || w.closed {
			// Give up until the next take; Start reports errors.
			w.filling = false
			w.mu.Unlock()
			if p != nil {
				p.abort()
			}
			return
		}
		w.idle = append(w.idle, p)
		w.mu.Unlock()
	}
}

// close stops refilling and kills the idle processes.
func (w *warmPool) close() {
	w.mu.Lock()
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	idle := w.idle
	w.idle = nil
	w.mu.Unlock()
	w.wg.Wait()
	for _, p := range idle {
		p.abort()
	}
}

// Setup processes are started from one OS thread that never exits: the
// parent-death signal (Pdeathsig) fires when the *thread* that forked a process
// exits, and Go retires a thread whenever a goroutine ends while locked to it —
// any code in the process may do that to a thread that once forked a sandbox.
var spawner struct {
	once sync.Once
	reqs chan func()
}

func onSpawnerThread(f func()) {
	spawner.once.Do(func() {
		spawner.reqs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range spawner.reqs {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawner.reqs <- func() {
		defer close(done)
		f()
	}
	<-done
}
