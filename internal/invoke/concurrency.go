package invoke

import (
	"sync"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
)

// Concurrency, as Lambda counts it: an execution is in flight from the moment an
// invocation is given an environment (its init phase included, for a cold start)
// until its response or error. A function with reserved concurrency runs at most
// that many at once (0: none at all, Lambda's kill switch); every other function
// shares the account's unreserved pool. Past either, the invoke is throttled — 429
// with Lambda's Reason — and never starts an environment or counts.

// Reasons of a throttle, as Lambda names them.
const (
	ReasonReserved = "ReservedFunctionConcurrentInvocationLimitExceeded"
	ReasonAccount  = "ConcurrentInvocationLimitExceeded"
)

// Counter admits executions within their limits. The dispatcher's is in-process
// (localCounter); a cluster's will keep its counts in NATS, behind the same
// interface.
type Counter interface {
	// Acquire counts one execution of function fn within l, or returns the
	// throttle (errdefs.Throttled) that refuses it. release ends the execution.
	Acquire(fn string, l control.ConcurrencyLimits) (release func(), err error)
	// InFlight is fn's executions in flight and the unreserved pool's.
	InFlight(fn string) (function, unreserved int)
	// Provisioned counts one execution of fn on a provisioned env, until done:
	// the env is its own limit, so this never throttles.
	Provisioned(fn string) (done func())
	// Counts is every function's executions in flight and throttles so far, by
	// name (only functions with any), and the unreserved pool's in flight.
	Counts() (functions map[string]FunctionCounts, unreserved int)
}

// FunctionCounts is one function's executions in flight (on-demand, and on
// provisioned envs) and throttles.
type FunctionCounts struct {
	InFlight            int   `json:"InFlight"`
	ProvisionedInFlight int   `json:"ProvisionedInFlight"`
	Throttles           int64 `json:"Throttles"`
}

// NewLocalCounter returns the in-process Counter the dispatcher uses (exported for
// hearth-bench, which measures what counting costs an invoke).
func NewLocalCounter() Counter { return newLocalCounter() }

// localCounter counts one node's executions.
type localCounter struct {
	mu         sync.Mutex
	byFunction map[string]int
	unreserved int // executions of functions without a reservation
	throttles  map[string]int64
	provFlight map[string]int // executions on provisioned envs
}

func newLocalCounter() *localCounter {
	return &localCounter{byFunction: map[string]int{}, throttles: map[string]int64{}, provFlight: map[string]int{}}
}

func (c *localCounter) Acquire(fn string, l control.ConcurrencyLimits) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.byFunction[fn]
	switch {
	case l.HasReserved && n >= l.OnDemand():
		c.throttles[fn]++
		return nil, errdefs.Throttled(ReasonReserved, "Rate Exceeded.")
	case !l.HasReserved && c.unreserved >= l.Unreserved:
		c.throttles[fn]++
		return nil, errdefs.Throttled(ReasonAccount, "Rate Exceeded.")
	}
	c.byFunction[fn] = n + 1
	pooled := !l.HasReserved
	if pooled {
		c.unreserved++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.byFunction[fn]--; c.byFunction[fn] <= 0 {
				delete(c.byFunction, fn)
			}
			if pooled {
				c.unreserved--
			}
		})
	}, nil
}

func (c *localCounter) Provisioned(fn string) func() {
	c.mu.Lock()
	c.provFlight[fn]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.provFlight[fn]--; c.provFlight[fn] <= 0 {
				delete(c.provFlight, fn)
			}
		})
	}
}

func (c *localCounter) InFlight(fn string) (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byFunction[fn], c.unreserved
}

func (c *localCounter) Counts() (map[string]FunctionCounts, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]FunctionCounts, len(c.byFunction)+len(c.throttles))
	for fn, n := range c.byFunction {
		f := out[fn]
		f.InFlight = n
		out[fn] = f
	}
	for fn, n := range c.provFlight {
		f := out[fn]
		f.ProvisionedInFlight = n
		out[fn] = f
	}
	for fn, n := range c.throttles {
		f := out[fn]
		f.Throttles = n
		out[fn] = f
	}
	return out, c.unreserved
}

// Concurrency is the operator's view of the counters that enforce the limits.
func (d *Dispatcher) Concurrency() (functions map[string]FunctionCounts, unreserved int) {
	return d.counter.Counts()
}
