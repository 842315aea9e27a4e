package async

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
)

// Lambda's retry timing.
const (
	// After the first and the second failed attempt of a function error.
	firstRetryDelay  = time.Minute
	secondRetryDelay = 2 * time.Minute
	// Throttles and Hearth-side failures: from 1 s, doubling, to 5 min.
	minThrottleDelay = time.Second
	maxThrottleDelay = 5 * time.Minute
)

// Destination record conditions.
const (
	condSuccess          = "Success"
	condRetriesExhausted = "RetriesExhausted"
	condEventAge         = "EventAgeExceeded"
	condZeroReserved     = "ZeroReservedConcurrency"
	// condRecursion is the condition of an event stopped by loop detection. AWS
	// documents that such events go to the on-failure destination and the
	// dead-letter queue but not the record's condition; this is Hearth's name,
	// after the exception a synchronous caller gets.
	condRecursion = "RecursiveInvocationException"
)

// handle takes one message of p's function to its next step.
func (q *Queue) handle(p *poller, m jetstream.Msg) {
	if q.ctx.Err() != nil {
		// Pulled as the node stops: leave it for whoever runs next.
		_ = m.Nak()
		return
	}
	if m.Headers().Get(hdrOutcome) != "" {
		q.redeliver(m)
		return
	}
	e, ok := eventOf(p.fn, m.Headers(), m.Data())
	if !ok {
		// Not written by Hearth: whoever can publish on Hearth's subjects can do
		// worse, but it must not wedge the function's queue.
		q.log.Warn("async: dropped a malformed event message", "function", p.fn)
		q.stats.function(p.fn).dropped.Add(1)
		_ = m.Ack()
		return
	}
	if wait := e.NotBefore.Sub(q.now()); wait > 0 {
		// A retry delivered before its time (it was published right after the
		// attempt): hand it back until then.
		_ = m.NakWithDelay(wait)
		return
	}
	q.attempt(p, m, e)
}

// attempt runs e once (or decides it cannot run) and stores what comes next: the
// retry's message, or the outcome. m is acknowledged only after that.
func (q *Queue) attempt(p *poller, m jetstream.Msg, e *Event) {
	ctx := q.ctx
	st := q.stats.function(e.FunctionName)
	t, err := q.cfg.Registry.ResolveInvoke(ctx, e.FunctionName, e.Qualifier)
	if errors.Is(err, errdefs.ErrNotFound) {
		q.drop(m, e, "the function or its qualifier was deleted")
		return
	}
	if err != nil {
		q.throttled(p, m, e, nil, err)
		return
	}
	cfg, err := q.cfg.Registry.AsyncConfig(e.FunctionName, e.Qualifier)
	if errors.Is(err, errdefs.ErrNotFound) {
		q.drop(m, e, "the function or its qualifier was deleted")
		return
	}
	if err != nil {
		q.throttled(p, m, e, t, err)
		return
	}
	maxAge := q.scaled(cfg.MaximumEventAge)
	if q.now().Sub(e.Accepted) > maxAge {
		q.fail(m, e, t, cfg, condEventAge, nil)
		return
	}
	if l, err := q.cfg.Registry.ConcurrencyLimits(e.FunctionName); err == nil && l.HasReserved && l.Reserved == 0 {
		// Lambda sends these events to the failure targets at once, without
		// retries: the function is switched off.
		q.fail(m, e, t, cfg, condZeroReserved, nil)
		return
	}
	if e.Lineage > maxLineage {
		if loop, err := q.cfg.Registry.RecursiveLoop(e.FunctionName); err == nil && loop != "Allow" {
			st.recursion.Add(1)
			q.log.Warn("async: stopped a recursive loop", "function", e.FunctionName, "requestId", e.RequestID, "invocations", e.Lineage-1)
			q.fail(m, e, t, cfg, condRecursion, nil)
			return
		}
	}
	stop := q.heartbeat(m)
	res, err := q.cfg.Runner.RunEvent(ctx, t, e)
	stop()
	if err == nil {
		p.ran()
	}
	switch {
	case q.ctx.Err() != nil:
		// The node is stopping: the attempt was cut short, not the function's
		// fault. Hand the event back for another puller, or for this node's
		// next start.
		_ = m.Nak()
	case errors.Is(err, errdefs.ErrNotFound):
		q.drop(m, e, "the function or its qualifier was deleted")
	case err != nil:
		q.throttled(p, m, e, t, err)
	case res.FunctionError == "":
		e.Attempts++
		st.succeeded.Add(1)
		q.succeed(m, e, t, cfg, res)
	default:
		e.Attempts++
		if e.Attempts > cfg.MaximumRetryAttempts {
			q.fail(m, e, t, cfg, condRetriesExhausted, res)
			return
		}
		delay := q.scaled(secondRetryDelay)
		if e.Attempts == 1 {
			delay = q.scaled(firstRetryDelay)
		}
		if q.now().Add(delay).Sub(e.Accepted) > maxAge {
			// Lambda's lookahead: the retry would come after the event's
			// maximum age, so the event fails now.
			q.fail(m, e, t, cfg, condEventAge, res)
			return
		}
		st.retried.Add(1)
		e.Throttles = 0
		e.NotBefore = q.now().Add(delay)
		q.requeue(m, e, delay)
	}
}

// throttled schedules e again after an attempt that did not run: a throttle (the
// function's or the account's concurrency, the scaling rate, the host's capacity)
// or a Hearth-side failure. These do not use up retries; the event's age bounds
// them. t is nil when the function could not be resolved.
func (q *Queue) throttled(p *poller, m jetstream.Msg, e *Event, t *control.InvokeTarget, cause error) {
	st := q.stats.function(e.FunctionName)
	if errors.Is(cause, errdefs.ErrTooManyRequests) {
		st.throttled.Add(1)
	} else {
		st.systemErrors.Add(1)
		q.log.Warn("async: attempt failed on Hearth's side; retrying", "function", e.FunctionName, "requestId", e.RequestID, "err", cause)
	}
	e.Throttles++
	delay := minThrottleDelay << min(e.Throttles-1, 16)
	delay = q.scaled(min(delay, maxThrottleDelay))
	p.pause(delay)
	if t != nil {
		if cfg, err := q.cfg.Registry.AsyncConfig(e.FunctionName, e.Qualifier); err == nil {
			if q.now().Add(delay).Sub(e.Accepted) > q.scaled(cfg.MaximumEventAge) {
				q.fail(m, e, t, cfg, condEventAge, nil)
				return
			}
		}
	}
	e.NotBefore = q.now().Add(delay)
	q.requeue(m, e, delay)
}

// requeue stores e's next attempt and then lets go of m. If the store fails, m
// itself comes back after delay with its old counters: at least once, never lost.
func (q *Queue) requeue(m jetstream.Msg, e *Event, delay time.Duration) {
	ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
	defer cancel()
	if _, err := q.js.PublishMsg(ctx, e.message(subjectOf(e.FunctionName))); err != nil {
		q.log.Warn("async: store a retry; the event comes back as it was", "function", e.FunctionName, "requestId", e.RequestID, "err", err)
		_ = m.NakWithDelay(delay)
		return
	}
	_ = m.Ack()
	q.wake(e.FunctionName)
}

// drop lets go of an event whose function (or qualifier) is gone: Lambda deletes
// those events too. It is counted and logged, never retried.
func (q *Queue) drop(m jetstream.Msg, e *Event, why string) {
	q.stats.function(e.FunctionName).dropped.Add(1)
	q.log.Info("async: dropped an event", "function", e.FunctionName, "qualifier", e.Qualifier, "requestId", e.RequestID, "why", why)
	_ = m.Ack()
}

// heartbeat tells JetStream the attempt on m is alive until stop is called, so the
// ack wait can be short (a crashed node's events come back soon) while a function
// runs up to 15 minutes.
func (q *Queue) heartbeat(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(q.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	return func() { close(done) }
}
