// Package sqs is Hearth's queue service: SQS's queues and messages kept in NATS
// JetStream, so an acknowledged SendMessage survives kill -9 of the server and every
// Hearth node on one NATS cluster serves the same queues. It has no HTTP; the wire
// protocols are internal/sqsapi's.
//
// How SQS maps onto JetStream (see docs/architecture.md, "Queues"):
//
//   - A queue's metadata (attributes, tags, timestamps, and the random id that names
//     its stream) is one key "q.NAME" in the KV bucket hearth_sqs_queues. Each node
//     mirrors the bucket through a watch, so sends and receives cost no metadata
//     round trip; writes are compare-and-set on the key's revision.
//   - Its messages are a work-queue stream SQS_<id> (subjects hearth.sqs.<id>.>)
//     read by one durable pull consumer "receive" filtered on hearth.sqs.<id>.m.
//     Work-queue retention removes a message once it is acknowledged, which is
//     DeleteMessage; MaxAge is MessageRetentionPeriod.
//   - Visibility timeout is the consumer's AckWait: a message not deleted in time is
//     redelivered. A receive or ChangeMessageVisibility asking for another timeout
//     sends a NAK with that delay (the server keeps the message pending and
//     redelivers it then). ApproximateReceiveCount is the delivery count.
//   - DelaySeconds is a JetStream message schedule ("@at" time, target the queue's
//     .m subject) on a subject of its own: the schedule is stored in the stream, so it
//     survives a restart, and the server publishes the message when it is due.
//   - FIFO queues: MessageDeduplicationId (or the body's SHA-256) is Nats-Msg-Id, in a
//     5-minute duplicate window; the consumer lets one message be in flight at a time
//     (MaxAckPending 1), so order within every group holds and no later message of
//     a group is received while an earlier one is in flight. That is stricter than
//     SQS (groups do not proceed in parallel), see docs.
//   - A receipt handle is the delivery's ack subject and the queue name, MACed (see
//     handle.go).
package sqs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config is what the service needs.
type Config struct {
	JetStream jetstream.JetStream
	Region    string
	AccountID string
	// Replicas is the JetStream replication factor of the bucket and of every
	// queue's stream (the store's Config.Replicas).
	Replicas int
	Now      func() time.Time
	Logger   *slog.Logger
}

const (
	bucketQueues = "hearth_sqs_queues"
	keyHandleKey = "handle-key" // never "q.…", so no queue name can collide
	queueKeyPfx  = "q."
	consumerName = "receive"
	// maxInFlight is SQS's in-flight limit of a standard queue.
	maxInFlight = 120000
	// ackTimeout bounds an ack, nak or publish round trip.
	ackTimeout = 10 * time.Second
)

// Service is the queue engine.
type Service struct {
	cfg     Config
	js      jetstream.JetStream
	nc      *nats.Conn
	kv      jetstream.KeyValue
	w       jetstream.KeyWatcher
	handles handleCodec
	log     *slog.Logger
	now     func() time.Time
	stop    chan struct{}
	stopped chan struct{}
	// closing ends long polls when the service closes, so a node's shutdown does
	// not wait out a 20-second receive.
	closing   context.Context
	closeOnce sync.Once
	cancel    context.CancelFunc

	mu     sync.RWMutex
	queues map[string]*mirrored // by name; the KV bucket's mirror
	// heads caches JetStream handles per queue id. Node-local but only a cache of
	// what any node can look up again.
	heads map[string]*jsHandles
}

type mirrored struct {
	q       *queue // nil: deleted (a tombstone, so a late watch update cannot resurrect it)
	rev     uint64
	deleted bool
	// deletedAt is when the queue was deleted (the KV delete marker's time):
	// its name is not taken again for a minute, as on SQS.
	deletedAt time.Time
}

type jsHandles struct {
	stream   jetstream.Stream
	consumer jetstream.Consumer
}

// queueRecord is a queue's KV value.
type queueRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Created    int64             `json:"created"`  // unix seconds
	Modified   int64             `json:"modified"` // unix seconds
	// Purged is the last PurgeQueue's time (unix ms): SQS allows one a minute.
	Purged int64 `json:"purged,omitempty"`
}

type queue struct {
	rec queueRecord
	rev uint64
	st  queueSettings
}

func (q *queue) streamName() string    { return "SQS_" + q.rec.ID }
func (q *queue) subject() string       { return "hearth.sqs." + q.rec.ID + ".m" }
func (q *queue) delayedPrefix() string { return "hearth.sqs." + q.rec.ID + ".d." }

// Open creates the bucket if it is missing, loads the queue mirror and the
// receipt-handle key.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.JetStream == nil {
		return nil, errors.New("sqs: a JetStream context is required")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, js: cfg.JetStream, nc: cfg.JetStream.Conn(), log: cfg.Logger, now: cfg.Now,
		queues: map[string]*mirrored{}, heads: map[string]*jsHandles{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	s.closing, s.cancel = context.WithCancel(context.Background())
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucketQueues, History: 1, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("sqs: create KV bucket %s: %w", bucketQueues, err)
	}
	s.kv = kv
	if s.handles.key, err = s.loadHandleKey(ctx); err != nil {
		return nil, err
	}
	// The watch lives as long as the service, not as long as Open's context.
	w, err := kv.Watch(context.Background(), queueKeyPfx+">")
	if err != nil {
		return nil, fmt.Errorf("sqs: watch %s: %w", bucketQueues, err)
	}
	// The watcher sends every current value, then nil.
	for loaded := false; !loaded; {
		select {
		case e := <-w.Updates():
			if e == nil {
				loaded = true
				break
			}
			s.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, ctx.Err()
		}
	}
	s.w = w
	go s.follow()
	if mp := s.nc.MaxPayload(); mp < 2<<20 {
		// An external NATS with the default 1 MB max_payload cannot take a 1 MiB
		// message with its attributes; sends of such messages will fail.
		s.log.Warn("sqs: the NATS server's max_payload is too small for SQS's largest messages (1 MiB + attributes); set max_payload to 4MB", "max_payload", mp)
	}
	return s, nil
}

// loadHandleKey reads the receipt-handle MAC key, making it on first use. Every node
// must have the same key, so it lives in the bucket, not on disk.
func (s *Service) loadHandleKey(ctx context.Context) ([]byte, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	if _, err := s.kv.Create(ctx, keyHandleKey, b[:]); err == nil {
		return b[:], nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("sqs: store receipt-handle key: %w", err)
	}
	e, err := s.kv.Get(ctx, keyHandleKey)
	if err != nil {
		return nil, fmt.Errorf("sqs: read receipt-handle key: %w", err)
	}
	return e.Value(), nil
}

func (s *Service) follow() {
	defer close(s.stopped)
	for {
		select {
		case e, ok := <-s.w.Updates():
			if !ok {
				return
			}
			if e != nil {
				s.apply(e)
			}
		case <-s.stop:
			return
		}
	}
}

// apply takes one KV entry into the mirror unless the mirror already has a newer one.
func (s *Service) apply(e jetstream.KeyValueEntry) {
	name := strings.TrimPrefix(e.Key(), queueKeyPfx)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.queues[name]
	if ok && cur.rev >= e.Revision() {
		return
	}
	if ok && cur.q != nil {
		// The handles of a deleted or re-created queue's stream are of no more use.
		delete(s.heads, cur.q.rec.ID)
	}
	if e.Operation() != jetstream.KeyValuePut {
		s.queues[name] = &mirrored{rev: e.Revision(), deleted: true, deletedAt: e.Created()}
		return
	}
	var rec queueRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		s.log.Warn("sqs: unreadable queue record", "queue", name, "err", err)
		return
	}
	s.queues[name] = &mirrored{rev: e.Revision(), q: &queue{rec: rec, rev: e.Revision(), st: settingsOf(IsFIFOName(rec.Name), rec.Attributes)}}
}

// Close ends the receives waiting for messages (they answer what they have) and
// stops the mirror's watch. Calls after the first do nothing; the service still
// answers from its last mirror until the connection closes.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		close(s.stop)
		_ = s.w.Stop()
		<-s.stopped
	})
}

// QueueARN is arn:aws:sqs:REGION:ACCOUNT:NAME.
func (s *Service) QueueARN(name string) string {
	return "arn:aws:sqs:" + s.cfg.Region + ":" + s.cfg.AccountID + ":" + name
}

// QueueNameFromARN returns the queue an ARN of this region and account names.
func (s *Service) QueueNameFromARN(arn string) (string, bool) {
	prefix := "arn:aws:sqs:" + s.cfg.Region + ":" + s.cfg.AccountID + ":"
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok || !ValidQueueName(name) {
		return "", false
	}
	return name, true
}

// Region and AccountID are the service's.
func (s *Service) Region() string    { return s.cfg.Region }
func (s *Service) AccountID() string { return s.cfg.AccountID }

// QueueExists reports whether the queue exists.
func (s *Service) QueueExists(name string) bool { return s.lookup(name) != nil }

// lookup reads the mirror; a queue it does not know is looked up in the bucket, so
// a queue another node created a moment ago is found before its watch update
// arrives here.
func (s *Service) lookup(name string) *queue {
	s.mu.RLock()
	m := s.queues[name]
	s.mu.RUnlock()
	if m != nil && m.q != nil {
		return m.q
	}
	if !ValidQueueName(name) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := s.kv.Get(ctx, queueKeyPfx+name)
	if err != nil {
		return nil
	}
	s.apply(e)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if m := s.queues[name]; m != nil {
		return m.q
	}
	return nil
}

func (s *Service) queue(name string) (*queue, error) {
	if q := s.lookup(name); q != nil {
		return q, nil
	}
	return nil, errNoQueue()
}

// handlesOf returns the queue's stream and consumer handles, looking them up once.
func (s *Service) handlesOf(ctx context.Context, q *queue) (*jsHandles, error) {
	s.mu.RLock()
	h := s.heads[q.rec.ID]
	s.mu.RUnlock()
	if h != nil {
		return h, nil
	}
	st, err := s.js.Stream(ctx, q.streamName())
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, errNoQueue()
		}
		return nil, err
	}
	c, err := st.Consumer(ctx, consumerName)
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, errNoQueue()
		}
		return nil, err
	}
	h = &jsHandles{stream: st, consumer: c}
	s.mu.Lock()
	s.heads[q.rec.ID] = h
	s.mu.Unlock()
	return h, nil
}

// streamConfig is the stream a queue's settings ask for.
func (s *Service) streamConfig(q *queue) jetstream.StreamConfig {
	age := time.Duration(q.st.retention) * time.Second
	// JetStream refuses a duplicate window longer than MaxAge; a queue keeping
	// messages less than 5 minutes cannot dedupe longer than it keeps them anyway.
	dup := min(fifoDeduplicationWindow*time.Second, age)
	return jetstream.StreamConfig{
		Name:              q.streamName(),
		Subjects:          []string{"hearth.sqs." + q.rec.ID + ".>"},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          s.cfg.Replicas,
		MaxAge:            age,
		Duplicates:        dup,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
		AllowMsgSchedules: true,
	}
}

func (s *Service) consumerConfig(q *queue) jetstream.ConsumerConfig {
	maxAck := maxInFlight
	if q.st.fifo {
		maxAck = 1
	}
	return jetstream.ConsumerConfig{
		Durable:       consumerName,
		FilterSubject: q.subject(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait(q.st.visibility),
		MaxDeliver:    -1,
		MaxAckPending: maxAck,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      s.cfg.Replicas,
		// Long polls are pull requests waiting at the server.
		MaxWaiting: 4096,
	}
}

// ackWait is the consumer's AckWait for a visibility timeout. JetStream has no zero
// AckWait (0 means its 30 s default): a queue with VisibilityTimeout 0 gets 1 s, and
// its receives NAK at once (see ReceiveMessage).
func ackWait(visibility int) time.Duration {
	return time.Duration(max(visibility, 1)) * time.Second
}

// applyJetStream makes the queue's stream and consumer match its settings.
func (s *Service) applyJetStream(ctx context.Context, q *queue) error {
	st, err := s.js.CreateOrUpdateStream(ctx, s.streamConfig(q))
	if err != nil {
		return fmt.Errorf("sqs: stream for queue %s: %w", q.rec.Name, err)
	}
	c, err := st.CreateOrUpdateConsumer(ctx, s.consumerConfig(q))
	if err != nil {
		return fmt.Errorf("sqs: consumer for queue %s: %w", q.rec.Name, err)
	}
	s.mu.Lock()
	s.heads[q.rec.ID] = &jsHandles{stream: st, consumer: c}
	s.mu.Unlock()
	return nil
}

// remember applies the service's own write to the mirror at once (read-your-writes).
func (s *Service) remember(rec *queueRecord, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.queues[rec.Name]; ok && cur.rev >= rev {
		return
	}
	s.queues[rec.Name] = &mirrored{rev: rev, q: &queue{rec: *rec, rev: rev, st: settingsOf(IsFIFOName(rec.Name), rec.Attributes)}}
}

func (s *Service) forget(name string, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.queues[name]; ok && cur.rev >= rev {
		return
	}
	s.queues[name] = &mirrored{rev: rev, deleted: true, deletedAt: s.now()}
}

// recreateDelay is how long SQS keeps a deleted queue's name from a new queue.
const recreateDelay = 60 * time.Second

// deletedRecently says whether a queue of the name was deleted less than
// recreateDelay ago.
func (s *Service) deletedRecently(name string) bool {
	s.mu.RLock()
	m := s.queues[name]
	s.mu.RUnlock()
	return m != nil && m.q == nil && !m.deletedAt.IsZero() && s.now().Sub(m.deletedAt) < recreateDelay
}

func (s *Service) dlqExists(arn string) (bool, bool) {
	name, ok := s.QueueNameFromARN(arn)
	if !ok || !s.QueueExists(name) {
		return false, false
	}
	return true, IsFIFOName(name)
}

// CreateQueue creates a queue, or does nothing when it exists with the same
// attributes (SQS's idempotence); different ones are QueueNameExists.
func (s *Service) CreateQueue(ctx context.Context, name string, attrs, tags map[string]string) error {
	if !ValidQueueName(name) {
		return errInvalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	fifo := IsFIFOName(name)
	if fifo && attrs[AttrFifoQueue] == "" {
		return errInvalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	given, err := checkAttributes(attrs, fifo, true, s.dlqExists)
	if err != nil {
		return err
	}
	if err := checkTags(tags); err != nil {
		return err
	}
	if q := s.lookup(name); q != nil {
		return sameAttributes(q, given)
	}
	if s.deletedRecently(name) {
		return NewError("QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before you can create another with the same name.")
	}
	full := defaultAttributes(fifo)
	for k, v := range given {
		full[k] = v
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	now := s.now().Unix()
	rec := queueRecord{Name: name, ID: hex.EncodeToString(id[:]), Attributes: full, Tags: tags, Created: now, Modified: now}
	q := &queue{rec: rec, st: settingsOf(fifo, full)}
	// The stream first: a crash before the record leaves an orphan stream no queue
	// names (a fresh random id every create), never a queue without its stream.
	if err := s.applyJetStream(ctx, q); err != nil {
		return err
	}
	b, _ := json.Marshal(rec)
	rev, err := s.kv.Create(ctx, queueKeyPfx+name, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Another caller (or node) created it first: ours is the orphan.
		_ = s.js.DeleteStream(ctx, q.streamName())
		e, gerr := s.kv.Get(ctx, queueKeyPfx+name)
		if gerr != nil {
			return gerr
		}
		s.apply(e)
		if q := s.lookup(name); q != nil {
			return sameAttributes(q, given)
		}
		return nil
	}
	if err != nil {
		_ = s.js.DeleteStream(ctx, q.streamName())
		return fmt.Errorf("sqs: store queue %s: %w", name, err)
	}
	s.remember(&rec, rev)
	return nil
}

// sameAttributes is CreateQueue's idempotence check: every attribute given must
// equal the existing queue's.
func sameAttributes(q *queue, given map[string]string) error {
	names := make([]string, 0, len(given))
	for k := range given {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if q.rec.Attributes[k] != given[k] {
			return NewError("QueueNameExists", "A queue already exists with the same name and a different value for attribute %s", k)
		}
	}
	return nil
}

// DeleteQueue deletes a queue and its messages.
func (s *Service) DeleteQueue(ctx context.Context, name string) error {
	q, err := s.queue(name)
	if err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, queueKeyPfx+name, jetstream.LastRevision(q.rev)); err != nil {
		if isWrongRevision(err) {
			return s.DeleteQueue(ctx, name)
		}
		return fmt.Errorf("sqs: delete queue %s: %w", name, err)
	}
	s.forget(name, q.rev+1)
	s.mu.Lock()
	delete(s.heads, q.rec.ID)
	s.mu.Unlock()
	if err := s.js.DeleteStream(ctx, q.streamName()); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		s.log.Warn("sqs: delete stream of deleted queue", "queue", name, "err", err)
	}
	return nil
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// update changes a queue's record with a compare-and-set, retried on conflict,
// and stamps it as modified.
func (s *Service) update(ctx context.Context, name string, change func(rec *queueRecord) error) (*queue, error) {
	return s.updateRecord(ctx, name, true, change)
}

// updateRecord is update; touch says whether the change is a modification of the
// queue (LastModifiedTimestamp) or only of Hearth's bookkeeping.
func (s *Service) updateRecord(ctx context.Context, name string, touch bool, change func(rec *queueRecord) error) (*queue, error) {
	for range 10 {
		q, err := s.queue(name)
		if err != nil {
			return nil, err
		}
		rec := q.rec
		rec.Attributes = cloneMap(q.rec.Attributes)
		rec.Tags = cloneMap(q.rec.Tags)
		if err := change(&rec); err != nil {
			return nil, err
		}
		if touch {
			rec.Modified = s.now().Unix()
		}
		b, _ := json.Marshal(rec)
		rev, err := s.kv.Update(ctx, queueKeyPfx+name, b, q.rev)
		if isWrongRevision(err) {
			if e, gerr := s.kv.Get(ctx, queueKeyPfx+name); gerr == nil {
				s.apply(e)
			} else if errors.Is(gerr, jetstream.ErrKeyNotFound) {
				s.forget(name, q.rev+1)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqs: update queue %s: %w", name, err)
		}
		s.remember(&rec, rev)
		return s.lookup(name), nil
	}
	return nil, NewError("RequestThrottled", "The queue %s changed too often to update it; try again.", name)
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SetQueueAttributes changes attributes and applies them to the queue's stream
// (retention) and consumer (visibility timeout).
func (s *Service) SetQueueAttributes(ctx context.Context, name string, attrs map[string]string) error {
	q, err := s.queue(name)
	if err != nil {
		return err
	}
	given, err := checkAttributes(attrs, q.st.fifo, false, s.dlqExists)
	if err != nil {
		return err
	}
	q, err = s.update(ctx, name, func(rec *queueRecord) error {
		for k, v := range given {
			if v == "" && (k == AttrRedrivePolicy || k == AttrPolicy || k == AttrRedriveAllowPolicy) {
				delete(rec.Attributes, k)
				continue
			}
			rec.Attributes[k] = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.applyJetStream(ctx, q)
}

// ListQueues returns the names with the prefix, sorted, at most max (0: 1000)
// after the name the token names; the token for the next page or "".
func (s *Service) ListQueues(prefix string, max int, nextToken string) ([]string, string, error) {
	after := ""
	if nextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(nextToken)
		if err != nil {
			return nil, "", errInvalidParam("Invalid NextToken value.")
		}
		after = string(b)
	}
	paged := max > 0
	if max <= 0 {
		max = 1000
	}
	s.mu.RLock()
	var names []string
	for name, m := range s.queues {
		if m.q != nil && strings.HasPrefix(name, prefix) && name > after {
			names = append(names, name)
		}
	}
	s.mu.RUnlock()
	sort.Strings(names)
	token := ""
	if len(names) > max {
		names = names[:max]
		if paged {
			token = base64.RawURLEncoding.EncodeToString([]byte(names[len(names)-1]))
		}
	}
	return names, token, nil
}

// DeadLetterSourceQueues names the queues whose RedrivePolicy targets the queue.
func (s *Service) DeadLetterSourceQueues(name string) ([]string, error) {
	if _, err := s.queue(name); err != nil {
		return nil, err
	}
	arn := s.QueueARN(name)
	s.mu.RLock()
	var out []string
	for n, m := range s.queues {
		if m.q != nil && m.q.st.redrive != nil && m.q.st.redrive.DeadLetterTargetArn == arn {
			out = append(out, n)
		}
	}
	s.mu.RUnlock()
	sort.Strings(out)
	return out, nil
}

// GetQueueAttributes answers the named attributes ("All" for every one). Message
// counts cost a stream and a consumer info round trip, so they are only asked for
// when named.
func (s *Service) GetQueueAttributes(ctx context.Context, name string, names []string) (map[string]string, error) {
	q, err := s.queue(name)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	all := false
	for _, n := range names {
		if !IsQueueAttributeName(n) {
			return nil, errAttrName(n)
		}
		if n == "All" {
			all = true
		}
		want[n] = true
	}
	out := map[string]string{}
	add := func(k, v string) {
		if all || want[k] {
			out[k] = v
		}
	}
	for k, v := range q.rec.Attributes {
		add(k, v)
	}
	add(AttrQueueArn, s.QueueARN(name))
	add(AttrCreatedTimestamp, fmt.Sprint(q.rec.Created))
	add(AttrLastModifiedTimestamp, fmt.Sprint(q.rec.Modified))
	if all || want[AttrApproximateNumberOfMessages] || want[AttrApproximateNumberOfMessagesNotVisible] || want[AttrApproximateNumberOfMessagesDelayed] {
		visible, inflight, delayed, err := s.counts(ctx, q)
		if err != nil {
			return nil, err
		}
		add(AttrApproximateNumberOfMessages, fmt.Sprint(visible))
		add(AttrApproximateNumberOfMessagesNotVisible, fmt.Sprint(inflight))
		add(AttrApproximateNumberOfMessagesDelayed, fmt.Sprint(delayed))
	}
	return out, nil
}

// counts reads the queue's message counts: the stream holds every message not yet
// deleted (delayed ones under their schedule subjects); the consumer knows which of
// the rest it has not delivered (visible) and which are delivered and unacknowledged
// (in flight, including those whose timeout ran out and wait for redelivery).
func (s *Service) counts(ctx context.Context, q *queue) (visible, inflight, delayed uint64, err error) {
	h, err := s.handlesOf(ctx, q)
	if err != nil {
		return 0, 0, 0, err
	}
	si, err := h.stream.Info(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	ci, err := h.consumer.Info(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	visible, inflight = ci.NumPending, uint64(ci.NumAckPending)
	if total := si.State.Msgs; total > visible+inflight {
		delayed = total - visible - inflight
	}
	return visible, inflight, delayed, nil
}

// purgeInterval is how often SQS lets a queue be purged.
const purgeInterval = 60 * time.Second

// PurgeQueue deletes every message of the queue, delayed and in-flight ones too.
// One purge a minute, as on SQS: the time of the last one is in the queue's
// record, so every node sees it. The time is claimed before the purge (two racing
// purges: one runs) and given back if the purge fails, so a failure does not lock
// the caller's retry out for a minute.
func (s *Service) PurgeQueue(ctx context.Context, name string) error {
	now := s.now()
	var previous int64
	q, err := s.updateRecord(ctx, name, false, func(rec *queueRecord) error {
		if rec.Purged != 0 && now.Sub(time.UnixMilli(rec.Purged)) < purgeInterval {
			return NewError("PurgeQueueInProgress", "Only one PurgeQueue operation on %s is allowed every 60 seconds.", name)
		}
		previous, rec.Purged = rec.Purged, now.UnixMilli()
		return nil
	})
	if err != nil {
		return err
	}
	h, err := s.handlesOf(ctx, q)
	if err == nil {
		err = h.stream.Purge(ctx)
	}
	if err != nil {
		_, _ = s.updateRecord(ctx, name, false, func(rec *queueRecord) error {
			if rec.Purged == now.UnixMilli() {
				rec.Purged = previous
			}
			return nil
		})
	}
	return err
}

// Tags.

func checkTags(tags map[string]string) error {
	if len(tags) > 50 {
		return errInvalidParam("Too many tags added for queue. The maximum is 50.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 {
			return errInvalidParam("Tag keys must be between 1 and 128 characters in length.")
		}
		if len(v) > 256 {
			return errInvalidParam("Tag values may only be up to 256 characters in length.")
		}
	}
	return nil
}

// TagQueue adds or replaces tags.
func (s *Service) TagQueue(ctx context.Context, name string, tags map[string]string) error {
	if err := checkTags(tags); err != nil {
		return err
	}
	_, err := s.update(ctx, name, func(rec *queueRecord) error {
		for k, v := range tags {
			rec.Tags[k] = v
		}
		return checkTags(rec.Tags)
	})
	return err
}

// UntagQueue removes tags.
func (s *Service) UntagQueue(ctx context.Context, name string, keys []string) error {
	_, err := s.update(ctx, name, func(rec *queueRecord) error {
		for _, k := range keys {
			delete(rec.Tags, k)
		}
		return nil
	})
	return err
}

// ListQueueTags returns the queue's tags.
func (s *Service) ListQueueTags(name string) (map[string]string, error) {
	q, err := s.queue(name)
	if err != nil {
		return nil, err
	}
	return cloneMap(q.rec.Tags), nil
}
