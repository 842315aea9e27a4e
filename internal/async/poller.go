package async

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// poller pulls one function's events on this node and runs each in a goroutine of
// its own, as many at once as the function may run.
type poller struct {
	q  *Queue
	fn string

	kick chan struct{} // cap 1: new events, or a slot came free

	mu         sync.Mutex
	running    int
	pauseUntil time.Time // after a throttle: read slower, as Lambda does
	// window is how many events may run at once now, below limit(): it starts
	// small and grows by one with each attempt that ran (so it doubles per round,
	// like TCP's slow start), and halves on a throttle. A backlog of thousands
	// thus meets a few cold starts first, then more as envs come up warm — not
	// 64 sandboxes booting at once on a small host, timing out their inits.
	window int
}

// initialWindow is a poller's first window.
const initialWindow = 4

// Poller timing.
const (
	// fetchWait is how long one pull waits for events. Short enough that a slot
	// freed or a pause ended is noticed; long enough that an idle function costs
	// little.
	fetchWait = 5 * time.Second
	// idleExit: a poller that found nothing for this long stops; an Enqueue here or
	// the scan starts it again.
	idleExit = 2 * time.Minute
	// maxBatch bounds one pull.
	maxBatch = 32
)

func newPoller(q *Queue, fn string) *poller {
	return &poller{q: q, fn: fn, kick: make(chan struct{}, 1), window: initialWindow}
}

func (p *poller) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// limit is how many of the function's events may run at once on this node.
func (p *poller) limit() int {
	n := p.q.cfg.PerFunction
	if l, err := p.q.cfg.Registry.ConcurrencyLimits(p.fn); err == nil && l.HasReserved {
		// Zero still takes one at a time: those events fail at once with
		// ZeroReservedConcurrency.
		n = min(n, max(l.Reserved, 1))
	}
	return n
}

// pause slows the pulling after a throttle, and halves the window.
func (p *poller) pause(d time.Duration) {
	p.mu.Lock()
	if until := p.q.now().Add(min(d, time.Second)); until.After(p.pauseUntil) {
		p.pauseUntil = until
	}
	p.window = max(p.window/2, 1)
	p.mu.Unlock()
}

// ran widens the window after an attempt that ran.
func (p *poller) ran() {
	p.mu.Lock()
	p.window = min(p.window+1, p.q.cfg.PerFunction)
	p.mu.Unlock()
}

func (p *poller) run() {
	q := p.q
	defer q.wg.Done()
	defer func() {
		q.mu.Lock()
		if q.pollers[p.fn] == p {
			delete(q.pollers, p.fn)
		}
		q.mu.Unlock()
	}()
	var cons jetstream.Consumer
	idleSince := q.now()
	for q.ctx.Err() == nil {
		if cons == nil {
			var err error
			ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
			cons, err = q.consumer(ctx, p.fn)
			cancel()
			if err != nil {
				if q.ctx.Err() == nil {
					q.log.Warn("async: open the function's consumer", "function", p.fn, "err", err)
				}
				p.sleep(time.Second)
				continue
			}
		}
		p.mu.Lock()
		free := min(p.limit(), p.window) - p.running
		wait := p.pauseUntil.Sub(q.now())
		busy := p.running > 0
		p.mu.Unlock()
		if wait > 0 {
			p.sleep(wait)
			continue
		}
		if free <= 0 {
			p.sleep(fetchWait) // until a slot comes free (the attempt pokes)
			continue
		}
		// The pull ends with the queue, not only after fetchWait: Close must not
		// wait for it.
		fctx, fcancel := context.WithTimeout(q.ctx, fetchWait)
		batch, err := cons.Fetch(min(free, maxBatch), jetstream.FetchContext(fctx))
		if err != nil {
			fcancel()
			if q.ctx.Err() != nil {
				return
			}
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				cons = nil
			}
			q.log.Warn("async: pull events", "function", p.fn, "err", err)
			p.sleep(time.Second)
			continue
		}
		n := 0
		for m := range batch.Messages() {
			n++
			p.mu.Lock()
			p.running++
			p.mu.Unlock()
			q.wg.Add(1)
			go func() {
				defer q.wg.Done()
				defer p.done()
				q.handle(p, m)
			}()
		}
		fcancel()
		if err := batch.Error(); err != nil && q.ctx.Err() == nil &&
			!errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				cons = nil
			}
			q.log.Debug("async: pull ended", "function", p.fn, "err", err)
		}
		if n > 0 || busy {
			idleSince = q.now()
			continue
		}
		if q.now().Sub(idleSince) > idleExit {
			q.mu.Lock()
			if q.pollers[p.fn] == p {
				delete(q.pollers, p.fn)
			}
			q.mu.Unlock()
			ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
			q.forget(ctx, p.fn)
			cancel()
			return
		}
	}
}

// done ends one attempt's hold on a slot.
func (p *poller) done() {
	p.mu.Lock()
	p.running--
	p.mu.Unlock()
	p.poke()
}

// sleep waits d, a kick, or the queue's end.
func (p *poller) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.q.ctx.Done():
	case <-p.kick:
	case <-t.C:
	}
}
