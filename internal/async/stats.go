package async

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
)

// stats are the queue's counters per function, named after Lambda's async metrics
// where it has one (AsyncEventsReceived, AsyncEventsDropped,
// DestinationDeliveryFailures, DeadLetterErrors). In memory, per node, since start.
type stats struct {
	mu sync.Mutex
	by map[string]*functionStats
}

type functionStats struct {
	received            atomic.Int64
	succeeded           atomic.Int64
	retried             atomic.Int64 // function errors retried
	throttled           atomic.Int64 // attempts refused by a throttle, retried later
	systemErrors        atomic.Int64 // attempts that failed on Hearth's side, retried later
	dropped             atomic.Int64 // events of deleted functions (and malformed messages)
	recursion           atomic.Int64 // events stopped by loop detection
	destinationFailures atomic.Int64 // failed deliveries to a destination (retried)
	deadLetterErrors    atomic.Int64 // failed deliveries to a dead-letter queue (retried)
	outcomesDropped     atomic.Int64 // outcomes given up after retrying their delivery for 6 h

	mu         sync.Mutex
	conditions map[string]int64 // failures by destination condition
}

func (s *stats) init() { s.by = map[string]*functionStats{} }

func (s *stats) function(fn string) *functionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.by[fn]
	if f == nil {
		f = &functionStats{conditions: map[string]int64{}}
		s.by[fn] = f
	}
	return f
}

func (f *functionStats) failed(condition string) {
	f.mu.Lock()
	f.conditions[condition]++
	f.mu.Unlock()
}

// FunctionStats is one function's asynchronous invocations on this node since it
// started, and its events stored now (every node's).
type FunctionStats struct {
	Function                    string
	Stored                      uint64 `json:"Stored"` // events (and outcomes awaiting delivery) in the stream now
	Received                    int64  `json:"AsyncEventsReceived"`
	Succeeded                   int64
	Failed                      map[string]int64 `json:"Failed,omitempty"` // by condition
	Retried                     int64
	Throttled                   int64
	SystemErrors                int64
	Dropped                     int64 `json:"AsyncEventsDropped"`
	RecursiveLoopsStopped       int64
	DestinationDeliveryFailures int64
	DeadLetterErrors            int64
	OutcomesDropped             int64
}

// Stats returns every function's counters, by name.
func (q *Queue) Stats(ctx context.Context) []FunctionStats {
	stored, _ := q.backlog(ctx)
	q.stats.mu.Lock()
	names := make(map[string]*functionStats, len(q.stats.by))
	for fn, f := range q.stats.by {
		names[fn] = f
	}
	q.stats.mu.Unlock()
	for fn := range stored {
		if names[fn] == nil {
			names[fn] = nil
		}
	}
	out := make([]FunctionStats, 0, len(names))
	for fn, f := range names {
		fs := FunctionStats{Function: fn, Stored: stored[fn]}
		if f != nil {
			fs.Received, fs.Succeeded, fs.Retried = f.received.Load(), f.succeeded.Load(), f.retried.Load()
			fs.Throttled, fs.SystemErrors, fs.Dropped = f.throttled.Load(), f.systemErrors.Load(), f.dropped.Load()
			fs.RecursiveLoopsStopped = f.recursion.Load()
			fs.DestinationDeliveryFailures, fs.DeadLetterErrors = f.destinationFailures.Load(), f.deadLetterErrors.Load()
			fs.OutcomesDropped = f.outcomesDropped.Load()
			f.mu.Lock()
			if len(f.conditions) > 0 {
				fs.Failed = make(map[string]int64, len(f.conditions))
				for c, n := range f.conditions {
					fs.Failed[c] = n
				}
			}
			f.mu.Unlock()
		}
		out = append(out, fs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Function < out[j].Function })
	return out
}
