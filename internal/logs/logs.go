// Package logs keeps functions' log streams in JetStream: messages of one or more
// invocations' lines (START, output, END, REPORT) on subject hearth.logs.FUNCTION,
// with the log stream name in a header. Retention is bounded by age and size, so logs
// can never fill the disk. Appends are asynchronous: the invoke path never waits for
// a log write.
//
// One writer goroutine publishes what was appended and waits for JetStream's
// acknowledgements before it publishes again; what arrives meanwhile is merged, one
// message per log stream. At a few invocations a second each invocation is its own
// message, as soon as it ends; at thousands a second, many share one (a message per
// invocation was a tenth of the server's CPU at 1,000 invokes/s).
package logs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	streamName    = "hearth_logs"
	subjectPrefix = "hearth.logs."
	headerStream  = "Hearth-Log-Stream"
)

// Config bounds retention.
type Config struct {
	MaxAge   time.Duration // default 7 days
	MaxBytes int64         // default 1 GiB
	Replicas int
}

// Store appends and reads log records.
type Store struct {
	js jetstream.JetStream

	mu      sync.Mutex
	pending []appended // in arrival order
	bytes   int        // of pending
	closed  bool
	wake    chan struct{} // cap 1: there is something to publish
	stop    chan struct{}
	done    chan struct{}
	dropped atomic.Int64 // bytes refused because JetStream fell this far behind
}

type appended struct {
	function, logStream string
	text                []byte
}

const (
	// maxPending bounds what waits for JetStream; past it appends are dropped (and
	// counted) rather than growing memory without limit while the store is stuck.
	maxPending = 16 << 20
	// maxMessage keeps merged messages well under NATS's default 1 MB payload limit.
	maxMessage = 256 << 10
	// ackWait bounds the wait for one batch's acknowledgements.
	ackWait = 5 * time.Second
)

// Open creates the log stream if needed.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      streamName,
		Subjects:  []string{subjectPrefix + ">"},
		Storage:   jetstream.FileStorage,
		MaxAge:    cfg.MaxAge,
		MaxBytes:  cfg.MaxBytes,
		Discard:   jetstream.DiscardOld,
		Replicas:  cfg.Replicas,
		Retention: jetstream.LimitsPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("create log stream: %w", err)
	}
	s := &Store{js: js, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go s.write()
	return s, nil
}

// Append records log text (one invocation's, or output between invocations) for a
// function's log stream. It does not wait for JetStream; text must not change after.
func (s *Store) Append(function, logStream string, text []byte) {
	s.mu.Lock()
	if s.closed || s.bytes+len(text) > maxPending {
		s.mu.Unlock()
		s.dropped.Add(int64(len(text)))
		return
	}
	s.pending = append(s.pending, appended{function, logStream, text})
	s.bytes += len(text)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Dropped is how many bytes of log text were refused because JetStream fell behind.
func (s *Store) Dropped() int64 { return s.dropped.Load() }

// Close publishes what is pending (until ctx ends) and stops the writer. Appends
// after Close are dropped.
func (s *Store) Close(ctx context.Context) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
	}
}

// write is the one writer: it publishes each batch and waits for its
// acknowledgements before taking the next.
func (s *Store) write() {
	defer close(s.done)
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			s.publish() // what was appended before Close
			return
		}
		s.publish()
	}
}

// publish sends what is pending, merged per log stream, and waits for JetStream.
func (s *Store) publish() {
	s.mu.Lock()
	batch := s.pending
	s.pending, s.bytes = nil, 0
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	var futures []jetstream.PubAckFuture
	for _, m := range merge(batch) {
		msg := nats.NewMsg(subjectPrefix + m.function)
		msg.Header.Set(headerStream, m.logStream)
		msg.Data = m.text
		if f, err := s.js.PublishMsgAsync(msg); err == nil {
			futures = append(futures, f)
		}
	}
	timeout := time.NewTimer(ackWait)
	defer timeout.Stop()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case <-f.Err():
		case <-timeout.C:
			return
		}
	}
}

// merge joins the texts of each log stream, keeping their order, into messages of
// at most maxMessage bytes. A text that fits stays whole; a longer one is cut into
// pieces of that size, so every message fits JetStream's payload limit (a larger
// one would be refused, and lost).
func merge(batch []appended) []appended {
	if len(batch) == 1 && len(batch[0].text) <= maxMessage {
		return batch
	}
	type key struct{ function, logStream string }
	open := map[key]int{} // → index in out of the stream's message being filled
	var out []appended
	for _, a := range batch {
		k := key{a.function, a.logStream}
		for text := a.text; len(text) > 0; {
			piece := text[:min(len(text), maxMessage)]
			text = text[len(piece):]
			if i, ok := open[k]; ok && len(out[i].text)+len(piece) <= maxMessage {
				out[i].text = append(out[i].text, piece...)
				continue
			}
			open[k] = len(out)
			// A copy: appending to the caller's slice could overwrite what follows it.
			out = append(out, appended{a.function, a.logStream, append(make([]byte, 0, len(piece)), piece...)})
		}
	}
	return out
}

// Record is one stored log record.
type Record struct {
	Function  string
	LogStream string
	Time      time.Time
	Text      []byte
}

// Read calls fn for each record of a function since a time, oldest first. With
// follow it keeps waiting for new records until ctx ends.
func (s *Store) Read(ctx context.Context, function string, since time.Time, follow bool, fn func(Record) error) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subjectPrefix + function}}
	if !since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	c, err := s.js.OrderedConsumer(ctx, streamName, cfg)
	if err != nil {
		return fmt.Errorf("read logs: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("read logs: %w", err)
	}
	pending := info.NumPending
	for follow || pending > 0 {
		wait := time.Second
		if follow {
			wait = 5 * time.Second
		}
		msg, err := c.Next(jetstream.FetchMaxWait(wait))
		if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) {
			if ctx.Err() != nil {
				return nil
			}
			if !follow {
				return nil
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read logs: %w", err)
		}
		md, _ := msg.Metadata()
		rec := Record{Function: function, LogStream: msg.Headers().Get(headerStream), Text: msg.Data()}
		if md != nil {
			rec.Time = md.Timestamp
			pending = md.NumPending
		} else {
			pending = 0
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}
