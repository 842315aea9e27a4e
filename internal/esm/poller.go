package esm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearthfn/hearth/internal/async"
	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/esm/filter"
)

// maxPayload is Lambda's synchronous invocation payload limit, which bounds a batch.
const maxPayload = 6 * 1024 * 1024

// longPoll is the receive wait while a worker has nothing yet. Receives are not
// cancelled when a mapping stops (a pull cancelled just as the server answered
// would strand its messages in flight until their visibility timeout): a stopping
// worker waits for its receive and hands back what it got, so the wait bounds how
// long a disable or a clean shutdown takes. SQS allows 20 s; 5 s costs an idle
// mapping one receive a second on each node.
const longPoll = 5 * time.Second

// settings is a mapping as the workers use it, with its filters parsed once.
type settings struct {
	control.Mapping
	functionArn string
	filters     []*filter.Pattern
}

// poller runs one mapping's workers on this node.
type poller struct {
	m    *Manager
	uuid string
	cur  atomic.Pointer[settings]

	pollCtx  context.Context // ends when the mapping is disabled or deleted
	haltPoll context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	workers int // running
	target  int

	// Signals from the workers to the scaler, reset each step.
	sawBacklog atomic.Bool
	sawMessage atomic.Bool
	inFlight   atomic.Int32 // batches being invoked
	throttled  atomic.Bool

	visibility atomic.Int64 // the queue's visibility timeout, ns; refreshed by the scaler
	lastWarn   atomic.Int64 // unix ns of the last warning logged
}

// warn logs a poller's trouble at most every 30 s: a queue deleted under its mapping
// fails every worker's every receive.
func (p *poller) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := p.lastWarn.Load()
	if now-last < int64(30*time.Second) || !p.lastWarn.CompareAndSwap(last, now) {
		return
	}
	p.m.log.Warn(msg, append([]any{"uuid", p.uuid}, args...)...)
}

func newPoller(m *Manager, mp control.Mapping) *poller {
	ctx, cancel := context.WithCancel(m.ctx)
	p := &poller{m: m, uuid: mp.UUID, pollCtx: ctx, haltPoll: cancel}
	p.update(mp)
	p.visibility.Store(int64(30 * time.Second))
	return p
}

// update takes a mapping's changed settings; workers read them per batch.
func (p *poller) update(mp control.Mapping) {
	if old := p.cur.Load(); old != nil && old.Revision == mp.Revision {
		return
	}
	s := &settings{Mapping: mp, functionArn: p.m.cfg.Registry.FunctionArn(mp.FunctionName)}
	if mp.Qualifier != "" {
		s.functionArn = p.m.cfg.Registry.QualifiedArn(mp.FunctionName, mp.Qualifier)
	}
	for _, src := range mp.Filters {
		f, err := filter.Parse(src)
		if err != nil {
			// The registry validated it; a pattern this build cannot read matches
			// nothing rather than everything.
			p.m.log.Warn("event source mapping: unreadable filter", "uuid", mp.UUID, "err", err)
			continue
		}
		s.filters = append(s.filters, f)
	}
	p.cur.Store(s)
}

func (p *poller) start() {
	p.mu.Lock()
	p.target = p.floor(p.cur.Load())
	for p.workers < p.target {
		p.spawnLocked()
	}
	p.mu.Unlock()
	p.wg.Add(1)
	go p.scale()
}

func (p *poller) halt() { p.haltPoll() }
func (p *poller) wait() { p.wg.Wait() }

func (p *poller) running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers
}

func (p *poller) spawnLocked() {
	p.workers++
	p.wg.Add(1)
	go p.work()
}

// ceiling is the most workers the mapping may have: its MaximumConcurrency and
// the function's concurrency (its reservation, else the account's unreserved pool).
func (p *poller) ceiling(s *settings) int {
	n := DefaultMaximumConcurrency
	if s.MaximumConcurrency > 0 {
		n = s.MaximumConcurrency
	}
	if l, err := p.m.cfg.Registry.ConcurrencyLimits(s.FunctionName); err == nil {
		if l.HasReserved {
			n = min(n, l.Reserved)
		} else if l.Unreserved > 0 {
			n = min(n, l.Unreserved)
		}
	}
	return n
}

// floor is the workers a poller starts with and never scales below.
func (p *poller) floor(s *settings) int {
	return max(min(p.m.cfg.StartWorkers, p.ceiling(s)), 0)
}

// scale adjusts the workers once a step: one more while the queue has a backlog
// (and no invoke was throttled), one fewer while it has none.
func (p *poller) scale() {
	defer p.wg.Done()
	t := time.NewTicker(p.m.cfg.ScaleEvery)
	defer t.Stop()
	var lastAttrs time.Time
	for {
		select {
		case <-p.pollCtx.Done():
			return
		case <-t.C:
		}
		s := p.cur.Load()
		backlog := p.sawBacklog.Swap(false)
		busy := p.sawMessage.Swap(false) || p.inFlight.Load() > 0
		throttled := p.throttled.Swap(false)
		// The queue's counts cost two JetStream round trips: read them only while
		// messages flow, and every 30 s for the visibility timeout. An idle mapping's
		// workers saw nothing, which says there is no backlog.
		if busy || time.Since(lastAttrs) >= 30*time.Second {
			lastAttrs = time.Now()
			if a, err := p.m.cfg.Queues.Attributes(p.pollCtx, s.EventSourceArn); err == nil {
				if a.VisibilityTimeout > 0 {
					p.visibility.Store(int64(a.VisibilityTimeout))
				}
				// The queue's count decides when there is one; the workers' full
				// receives only when it cannot be read.
				backlog = a.Backlog > 0
			}
		}
		lo, hi := p.floor(s), p.ceiling(s)
		p.mu.Lock()
		switch {
		case throttled:
			p.target = max(lo, p.target-1)
		case backlog && p.target < hi:
			p.target++
		case !backlog && p.target > lo:
			p.target--
		}
		p.target = min(max(p.target, lo), hi)
		for p.workers < p.target {
			p.spawnLocked()
		}
		p.mu.Unlock()
	}
}

// retire reports whether this worker should stop: there are more than the target.
func (p *poller) retire() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.workers > p.target {
		p.workers--
		return true
	}
	return false
}

// work receives and processes batches until the mapping stops or the poller
// scales down.
func (p *poller) work() {
	defer p.wg.Done()
	var carry []item // messages received past a batch's size limit, for the next one
	defer func() {
		if len(carry) > 0 {
			p.release(carry)
		}
	}()
	for p.pollCtx.Err() == nil {
		if len(carry) == 0 && p.retire() {
			return
		}
		s := p.cur.Load()
		if !p.m.cfg.Registry.FunctionExists(s.FunctionName) {
			// Lambda keeps a mapping whose function is gone, and invokes nothing.
			if !sleep(p.pollCtx, time.Second) {
				return
			}
			continue
		}
		var batch []item
		batch, carry = p.gather(s, carry)
		if len(batch) > 0 {
			p.inFlight.Add(1)
			p.process(s, batch)
			p.inFlight.Add(-1)
		}
	}
	p.mu.Lock()
	p.workers--
	p.mu.Unlock()
}

// item is a received message with its rendered record.
type item struct {
	msg    Message
	rec    record
	json   []byte
	recvAt time.Time
}

// gather collects one batch: up to BatchSize messages, waiting at most the
// batching window after the first, within the 6 MB payload.
func (p *poller) gather(s *settings, carry []item) (batch, rest []item) {
	size := eventEnvelope
	batch = carry
	for _, it := range batch {
		size += len(it.json) + 1
	}
	var first time.Time
	if len(batch) > 0 {
		first = batch[0].recvAt
	}
	for len(batch) < s.BatchSize {
		want := min(10, s.BatchSize-len(batch))
		var wait time.Duration
		switch {
		case len(batch) == 0:
			wait = longPoll
		case s.BatchingWindow == 0:
			wait = 0
		default:
			rem := time.Until(first.Add(s.BatchingWindow))
			if rem <= 0 {
				return batch, nil
			}
			// Receive waits are whole seconds: round down, so the window is never
			// overrun, and poll the last fraction.
			wait = min(rem.Truncate(time.Second), longPoll)
		}
		msgs, err := p.m.cfg.Queues.Receive(p.m.ctx, s.EventSourceArn, want, wait)
		if p.pollCtx.Err() != nil {
			// Stopped meanwhile: what this receive got goes back at once; what the
			// batch already holds is still invoked.
			if len(msgs) > 0 {
				p.releaseMessages(s, msgs)
			}
			return batch, nil
		}
		if err != nil {
			if p.pollCtx.Err() == nil {
				p.warn("event source mapping: receive", "queue", s.EventSourceArn, "err", err)
				if len(batch) == 0 {
					sleep(p.pollCtx, 2*time.Second)
				}
			}
			return batch, nil
		}
		now := time.Now()
		if len(msgs) > 0 {
			p.sawMessage.Store(true)
		}
		if len(msgs) == want {
			p.sawBacklog.Store(true)
		}
		if len(msgs) == 0 {
			if len(batch) == 0 || s.BatchingWindow == 0 {
				return batch, nil
			}
			if wait == 0 {
				sleep(p.pollCtx, min(time.Until(first.Add(s.BatchingWindow)), 50*time.Millisecond))
			}
			continue
		}
		if len(batch) == 0 {
			first = now
		}
		for i := range msgs {
			it := item{msg: msgs[i], recvAt: now}
			it.rec = newRecord(&it.msg, s.EventSourceArn, p.m.cfg.Region)
			it.json = encodeRecord(&it.rec)
			if size+len(it.json)+1 > maxPayload && len(batch) > 0 {
				// Full: this one and the rest of the receive start the next batch.
				rest = make([]item, 0, len(msgs)-i)
				rest = append(rest, it)
				for j := i + 1; j < len(msgs); j++ {
					r := item{msg: msgs[j], recvAt: now}
					r.rec = newRecord(&r.msg, s.EventSourceArn, p.m.cfg.Region)
					r.json = encodeRecord(&r.rec)
					rest = append(rest, r)
				}
				return batch, rest
			}
			size += len(it.json) + 1
			batch = append(batch, it)
		}
	}
	return batch, nil
}

// process filters a batch, invokes the function with what matched and deletes
// what it handled.
func (p *poller) process(s *settings, batch []item) {
	ctx := p.m.ctx
	arn := s.EventSourceArn
	matched := batch
	if len(s.filters) > 0 {
		matched = matched[:0:0]
		var dropped []string
		for _, it := range batch {
			if matches(s.filters, &it.rec) {
				matched = append(matched, it)
			} else {
				dropped = append(dropped, it.msg.ReceiptHandle)
			}
		}
		// Lambda deletes SQS messages that match no filter, without invoking.
		if len(dropped) > 0 {
			if err := p.m.cfg.Queues.DeleteBatch(ctx, arn, dropped); err != nil {
				p.warn("event source mapping: delete filtered messages", "err", err)
			}
		}
		if len(matched) == 0 {
			return
		}
	}
	records := make([][]byte, len(matched))
	ids := make(map[string]bool, len(matched))
	trace, lineage := "", -1
	for i, it := range matched {
		records[i] = it.json
		ids[it.msg.MessageId] = true
		if h := it.msg.Attributes["AWSTraceHeader"]; h != "" {
			if n := async.LineageOf(h); n > lineage {
				trace, lineage = h, n
			}
		}
	}
	payload := encodeEvent(records)
	resp, fnErr, err := p.invoke(ctx, s, payload, trace, matched[0].recvAt)
	if err != nil {
		if ctx.Err() == nil {
			p.warn("event source mapping: invoke", "function", s.functionArn, "err", err)
		}
		return // the messages reappear after their visibility timeout
	}
	if fnErr != "" {
		return
	}
	keep := map[string]bool(nil)
	if s.ReportBatchItemFailures {
		keep, err = failedItems(resp, ids)
		if err != nil {
			p.warn("event source mapping: batch item failures", "err", err)
			return
		}
	}
	handles := make([]string, 0, len(matched))
	for _, it := range matched {
		if !keep[it.msg.MessageId] {
			handles = append(handles, it.msg.ReceiptHandle)
		}
	}
	if len(handles) > 0 {
		if err := p.m.cfg.Queues.DeleteBatch(ctx, arn, handles); err != nil {
			p.warn("event source mapping: delete", "err", err)
		}
	}
}

// invoke runs the batch, retrying throttles with backoff while the messages are
// still ours (their visibility timeout has not run out): Lambda keeps a throttled
// batch and tries again rather than handing it back to the queue.
func (p *poller) invoke(ctx context.Context, s *settings, payload []byte, trace string, received time.Time) ([]byte, string, error) {
	backoff := 100 * time.Millisecond
	for {
		resp, fnErr, err := p.m.cfg.Invoker.InvokeBatch(ctx, s.functionArn, payload, trace)
		if err == nil || errdefs.KindOf(err) != errdefs.ErrTooManyRequests {
			return resp, fnErr, err
		}
		p.throttled.Store(true)
		deadline := received.Add(time.Duration(p.visibility.Load()) - time.Second)
		if time.Now().Add(backoff).After(deadline) {
			return nil, "", err
		}
		if !sleep(ctx, backoff) {
			return nil, "", ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// release hands messages a stopping worker still holds back to the queue at once.
func (p *poller) release(items []item) {
	msgs := make([]Message, len(items))
	for i := range items {
		msgs[i] = items[i].msg
	}
	p.releaseMessages(p.cur.Load(), msgs)
}

func (p *poller) releaseMessages(s *settings, msgs []Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range msgs {
		_ = p.m.cfg.Queues.ChangeVisibility(ctx, s.EventSourceArn, m.ReceiptHandle, 0)
	}
}

// matches reports whether a record passes any of the mapping's filters.
func matches(filters []*filter.Pattern, r *record) bool {
	view := filterView(r)
	for _, f := range filters {
		if f.Match(view) {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// NewRequestID is a Lambda request id for one batch's invocation.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
