// Package logs keeps functions' log streams in JetStream: one message per invocation
// (its START, output, END and REPORT lines) on subject hearth.logs.FUNCTION, with the
// log stream name in a header. Retention is bounded by age and size, so logs can
// never fill the disk. Appends are asynchronous: the invoke path never waits for a
// log write.
package logs

import (
	"context"
	"errors"
	"fmt"
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
}

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
	return &Store{js: js}, nil
}

// Append records one invocation's log text for a function's log stream. It does not
// wait for JetStream's acknowledgement.
func (s *Store) Append(function, logStream string, text []byte) {
	msg := nats.NewMsg(subjectPrefix + function)
	msg.Header.Set(headerStream, logStream)
	msg.Data = text
	_, _ = s.js.PublishMsgAsync(msg)
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
