// Package async is Lambda's asynchronous invocation on JetStream: an Event invoke is
// answered 202 only once its event is stored, and every stored event reaches an
// outcome — the function ran (a success record), or it failed its retries, grew
// too old, or could not run at all (a failure record and the dead-letter queue) —
// whatever happens to the server in between.
//
// One stream, hearth_async, holds every function's events on subject
// hearth.async.ev.FUNCTION with work-queue retention: a message is removed when it
// is acknowledged, and it is acknowledged only after its attempt's outcome is
// stored (the next attempt's message published, or the outcome delivered). Each
// function has its own durable pull consumer, so a slow or throttled function never
// delays another's events, and each node that runs functions pulls from it as far
// as that function's concurrency allows (several nodes share the consumer). An
// attempt in flight when the node dies is delivered again once the consumer's ack
// wait passes: at least once, as on Lambda.
//
// Retries are new messages: the event's counters (attempts, throttles, when it was
// accepted, when it may run next) travel in headers, and a message delivered before
// its time is handed back with a delay (NakWithDelay). Function errors use up
// MaximumRetryAttempts with Lambda's delays (1 min, then 2 min); throttles and
// Hearth-side failures back off from 1 s to 5 min without using them up; both stop
// at MaximumEventAgeInSeconds, with Lambda's lookahead (an event whose next retry
// would be too old fails now).
package async

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
)

const (
	streamName    = "hearth_async"
	subjectPrefix = "hearth.async.ev."
	consumerPfx   = "ev_"
)

// MaxPayload is Lambda's limit for an Event invoke's payload (1 MB since 2025;
// 256 KB before).
const MaxPayload = 1 << 20

// Registry is what the queue reads of the function registry (*control.Service).
type Registry interface {
	ResolveInvoke(ctx context.Context, functionName, qualifier string) (*control.InvokeTarget, error)
	ConcurrencyLimits(functionName string) (control.ConcurrencyLimits, error)
	AsyncConfig(functionName, qualifier string) (control.AsyncConfig, error)
	RecursiveLoop(functionName string) (string, error)
	Region() string
	AccountID() string
}

// Runner runs one attempt of an event (*invoke.Dispatcher): on a provisioned env
// or within the function's concurrency, like a synchronous invoke. A throttle is an
// error of kind errdefs.ErrTooManyRequests; a function error is a Result.
type Runner interface {
	RunEvent(ctx context.Context, t *control.InvokeTarget, e *Event) (*Result, error)
}

// Result is what one attempt produced.
type Result struct {
	Payload         []byte
	FunctionError   string // "Unhandled" when the function (or its runtime) failed
	ExecutedVersion string
}

// QueueSender delivers to the SQS queues Hearth serves (destinations and
// dead-letter queues). Attributes are String or Number message attributes.
type QueueSender interface {
	SendToQueue(ctx context.Context, queueARN, body string, attrs map[string]Attribute, lineage int) error
}

// Attribute is one SQS message attribute.
type Attribute struct {
	DataType string // "String" or "Number"
	Value    string
}

// Config is what a Queue needs.
type Config struct {
	JetStream jetstream.JetStream
	Replicas  int
	Registry  Registry
	Runner    Runner
	// Queues delivers to SQS destinations; nil fails every SQS delivery (the
	// registry refuses them at configuration time then).
	Queues QueueSender
	// DelayScale multiplies every retry delay and every event age limit: 1 is
	// Lambda's (1 min and 2 min after function errors, 1 s–5 min after throttles,
	// 60 s–6 h of event age); tests and impatient developers make it smaller.
	DelayScale float64
	// AckWait is how long an attempt may go without a heartbeat before another
	// puller (after a crash, this node once restarted) takes the event again.
	AckWait time.Duration
	// PerFunction bounds one function's events running at once on this node
	// (default 64; its reserved concurrency when that is lower).
	PerFunction int
	// MaxEventsPerFunction bounds one function's stored events (default 100,000):
	// past it Event invokes of that function get 429, and no function can fill the
	// disk for the others.
	MaxEventsPerFunction int64
	// MaxBytes bounds the whole stream (default 8 GiB).
	MaxBytes int64
	Logger   *slog.Logger
	Now      func() time.Time
}

// Queue is the asynchronous invocation queue of one node.
type Queue struct {
	cfg    Config
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger
	now    func() time.Time

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // pollers and attempts

	mu      sync.Mutex
	pollers map[string]*poller // by function name
	closed  bool

	stats stats
}

// Defaults.
const (
	defaultAckWait     = 30 * time.Second
	defaultPerFunction = 64
	defaultMaxEvents   = 100_000
	defaultMaxBytes    = 8 << 30
	// scanEvery is how often the node looks for functions with stored events and
	// no poller here (events another node accepted, or that wait out a delay).
	scanEvery = 10 * time.Second
)

// Open creates the stream if it is missing and starts pulling every function's
// stored events.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.DelayScale <= 0 {
		cfg.DelayScale = 1
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = defaultAckWait
	}
	if cfg.PerFunction <= 0 {
		cfg.PerFunction = defaultPerFunction
	}
	if cfg.MaxEventsPerFunction <= 0 {
		cfg.MaxEventsPerFunction = defaultMaxEvents
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = defaultMaxBytes
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, err := cfg.JetStream.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     streamName,
		Subjects: []string{subjectPrefix + ">"},
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
		// Work-queue retention: an acknowledged event is gone; one consumer per
		// function subject.
		Retention: jetstream.WorkQueuePolicy,
		// Full means refuse the new event (the caller gets 429 and may retry),
		// never drop one that was accepted.
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		MaxMsgsPerSubject:    cfg.MaxEventsPerFunction,
		MaxBytes:             cfg.MaxBytes,
		// The payload, its headers and room for a destination record's envelope.
		MaxMsgSize: 2 * MaxPayload,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("create async event stream: %w", err)
	}
	qctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		cfg: cfg, js: cfg.JetStream, stream: st, log: cfg.Logger, now: cfg.Now,
		ctx: qctx, cancel: cancel, pollers: map[string]*poller{},
	}
	q.stats.init()
	q.scan(ctx)
	q.wg.Add(1)
	go q.scanLoop()
	return q, nil
}

// Close stops pulling, hands back the events this node holds (another node, or
// this one after a restart, takes them) and waits for attempts to end.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
}

func subjectOf(fn string) string { return subjectPrefix + fn }

// Enqueue stores an accepted Event invocation. It returns once JetStream has it on
// disk: that is when Invoke may answer 202.
func (q *Queue) Enqueue(ctx context.Context, e *Event) error {
	if e.Accepted.IsZero() {
		e.Accepted = q.now()
	}
	if e.Lineage <= 0 {
		e.Lineage = 1
	}
	if _, err := q.js.PublishMsg(ctx, e.message(subjectOf(e.FunctionName))); err != nil {
		return q.publishError(e.FunctionName, err)
	}
	q.stats.function(e.FunctionName).received.Add(1)
	q.wake(e.FunctionName)
	return nil
}

// publishError says why an event could not be stored, as Invoke answers it.
func (q *Queue) publishError(fn string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "maximum messages per subject exceeded"):
		return errdefs.RetryLater("", 1, "The function %s has %d asynchronous events waiting, the most this server keeps (serve's --async-max-events); retry later.", fn, q.cfg.MaxEventsPerFunction)
	case strings.Contains(msg, "maximum bytes exceeded"), strings.Contains(msg, "insufficient resources"):
		return errdefs.RetryLater("", 5, "The asynchronous event queue is full; retry later.")
	case strings.Contains(msg, "maximum payload exceeded"), strings.Contains(msg, "message size exceeds"):
		return errdefs.New(errdefs.ErrService, "The event is larger than this server's NATS accepts (its max_payload); raise it to at least %d bytes.", 2*MaxPayload)
	}
	return fmt.Errorf("%w: store the event: %v", errdefs.ErrService, err)
}

// wake makes sure a poller of fn runs on this node.
func (q *Queue) wake(fn string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if p := q.pollers[fn]; p != nil {
		p.poke()
		return
	}
	p := newPoller(q, fn)
	q.pollers[fn] = p
	q.wg.Add(1)
	go p.run()
}

// scanLoop finds functions with stored events and no poller here.
func (q *Queue) scanLoop() {
	defer q.wg.Done()
	t := time.NewTicker(scanEvery)
	defer t.Stop()
	for {
		select {
		case <-q.ctx.Done():
			return
		case <-t.C:
			q.scan(q.ctx)
		}
	}
}

func (q *Queue) scan(ctx context.Context) {
	counts, err := q.backlog(ctx)
	if err != nil {
		if q.ctx.Err() == nil {
			q.log.Warn("async: list functions with stored events", "err", err)
		}
		return
	}
	for fn, n := range counts {
		if n > 0 {
			q.wake(fn)
		}
	}
}

// backlog is the number of stored events (and outcomes waiting to be delivered)
// per function.
func (q *Queue) backlog(ctx context.Context) (map[string]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(subjectPrefix+">"))
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		if fn, ok := strings.CutPrefix(subj, subjectPrefix); ok {
			out[fn] = n
		}
	}
	return out, nil
}

// consumer opens (creating if needed) fn's durable consumer.
func (q *Queue) consumer(ctx context.Context, fn string) (jetstream.Consumer, error) {
	return q.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       consumerPfx + fn,
		FilterSubject: subjectOf(fn),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.cfg.AckWait,
		// Throttled events may come back for hours; never give up on delivery.
		MaxDeliver: -1,
		// Events waiting out a retry delay stay pending; they must not stop the
		// consumer from handing out the rest.
		MaxAckPending: int(q.cfg.MaxEventsPerFunction) + 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
}

// forget drops fn's consumer once fn no longer exists and nothing of it is stored.
func (q *Queue) forget(ctx context.Context, fn string) {
	if _, err := q.cfg.Registry.ResolveInvoke(ctx, fn, ""); !errors.Is(err, errdefs.ErrNotFound) {
		return
	}
	counts, err := q.backlog(ctx)
	if err != nil || counts[fn] > 0 {
		return
	}
	if err := q.stream.DeleteConsumer(ctx, consumerPfx+fn); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		q.log.Debug("async: delete the consumer of a deleted function", "function", fn, "err", err)
	}
}

// scaled is d under the configured delay scale, never below 10 ms.
func (q *Queue) scaled(d time.Duration) time.Duration {
	return max(time.Duration(float64(d)*q.cfg.DelayScale), 10*time.Millisecond)
}
