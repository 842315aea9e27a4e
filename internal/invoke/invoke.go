// Package invoke is the dispatcher between the Lambda API and the worker: it
// resolves a qualifier to the version that runs (with an alias's weighted routing),
// checks the invocation's shape and limits, and runs it within the account's and the
// function's concurrency (concurrency.go) — at once for RequestResponse, or, for an
// Event, once the durable queue (internal/async) hands the event back.
package invoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hearthfn/hearth/internal/async"
	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/worker"
)

// Lambda's payload limits.
const (
	MaxSyncPayload  = 6 * 1024 * 1024
	MaxAsyncPayload = async.MaxPayload
	maxClientCtx    = 3583
	logTailBytes    = 4096
)

// Registry is what the dispatcher needs of the function registry
// (*control.Service).
type Registry interface {
	ResolveInvoke(ctx context.Context, functionName, qualifier string) (*control.InvokeTarget, error)
	ConcurrencyLimits(functionName string) (control.ConcurrencyLimits, error)
	CodeInUse() (stamp [3]uint64, used map[string]bool)
	ProvisionedTargets() ([]control.ProvisionedTarget, error)
	ProvisionedStamp() [4]uint64
	RecursiveLoop(functionName string) (string, error)
}

// EventQueue stores Event invocations until they have run (*async.Queue).
type EventQueue interface {
	Enqueue(ctx context.Context, e *async.Event) error
}

// Runner runs invocations on execution environments (*worker.Pool).
type Runner interface {
	Invoke(ctx context.Context, v *worker.Version, req *worker.Request) (*worker.Result, error)
	// InvokeProvisioned runs on an idle provisioned env of v, if one is free.
	InvokeProvisioned(ctx context.Context, v *worker.Version, req *worker.Request) (*worker.Result, bool, error)
	PruneCode(used map[string]bool) (removed, waiting int, err error)
	Provisioner
}

var (
	_ Registry = (*control.Service)(nil)
	_ Runner   = (*worker.Pool)(nil)
)

// Dispatcher runs invocations.
type Dispatcher struct {
	ctl     Registry
	pool    Runner
	log     *slog.Logger
	counter Counter
	events  EventQueue // nil until SetEventQueue: Event invokes are refused

	stop context.Context

	provKick chan struct{}
	provMu   sync.Mutex
	provErr  map[string]provisionFailure // by config id: why this host cannot provision it
}

// New returns a dispatcher. Its background work stops when stop ends.
func New(ctl Registry, pool Runner, log *slog.Logger, stop context.Context) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	d := &Dispatcher{ctl: ctl, pool: pool, log: log, stop: stop, counter: newLocalCounter(),
		provKick: make(chan struct{}, 1), provErr: map[string]provisionFailure{}}
	go d.pruneCode()
	go d.provisioner()
	return d
}

// SetEventQueue is where Event invocations are stored. The queue runs them through
// RunEvent, so it is built after the dispatcher.
func (d *Dispatcher) SetEventQueue(q EventQueue) { d.events = q }

// pruneCodeEvery is how often the dispatcher looks for registry changes that may
// have left unpacked code unused.
const pruneCodeEvery = 2 * time.Second

// pruneCode removes the worker's unpacked code that no function or version uses any
// more (deleted functions, replaced code), each time the registry has changed.
func (d *Dispatcher) pruneCode() {
	t := time.NewTicker(pruneCodeEvery)
	defer t.Stop()
	var seen [3]uint64
	again := true // the first round, and after a round that left unused code waiting
	for {
		select {
		case <-d.stop.Done():
			return
		case <-t.C:
		}
		stamp, used := d.ctl.CodeInUse()
		if stamp == seen && !again {
			continue
		}
		seen = stamp
		removed, waiting, err := d.pool.PruneCode(used)
		again = waiting > 0 || err != nil
		if err != nil {
			d.log.Warn("prune unpacked code", "err", err)
		} else if removed > 0 {
			d.log.Info("removed unpacked code no version uses", "count", removed)
		}
	}
}

// Input is one Invoke call.
type Input struct {
	RequestID      string
	FunctionName   string
	Qualifier      string
	InvocationType string // RequestResponse (default), Event, DryRun
	LogType        string // None (default), Tail
	ClientContext  string // base64 JSON
	// TraceHeader is the caller's X-Amzn-Trace-Id: a function's SDK sends the
	// trace id of its own invocation, whose Lineage counts the request chain.
	TraceHeader string
	Payload     []byte
}

// Output is what the caller gets.
type Output struct {
	StatusCode      int
	Payload         []byte
	FunctionError   string
	LogResult       string // base64 of the log's last 4 KB, with LogType Tail
	ExecutedVersion string
}

// Invoke validates and runs one invocation.
func (d *Dispatcher) Invoke(ctx context.Context, in *Input) (*Output, error) {
	switch in.InvocationType {
	case "", "RequestResponse", "Event", "DryRun":
	default:
		// The values in the order AWS lists them (an answer quoted in 2017), which
		// is not the model's.
		return nil, errdefs.New(errdefs.ErrValidation, "1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [DryRun, RequestResponse, Event]", in.InvocationType)
	}
	switch in.LogType {
	case "", "None", "Tail":
	default:
		return nil, errdefs.New(errdefs.ErrValidation, "1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]", in.LogType)
	}
	if in.ClientContext != "" {
		if len(in.ClientContext) > maxClientCtx {
			return nil, errdefs.New(errdefs.ErrInvalidRequest, "Client context must be at most %d bytes.", maxClientCtx)
		}
		if !clientContextObject(in.ClientContext) {
			return nil, errdefs.New(errdefs.ErrInvalidRequest, "Client context must be a valid Base64-encoded JSON object.")
		}
	}
	// Over the limits AWS answers 413 RequestEntityTooLargeException (the model's
	// RequestTooLargeException is not what it sends). The edge refuses a body over
	// 6 MB before it is read; these are for callers that come another way.
	if in.InvocationType == "Event" && len(in.Payload) > MaxAsyncPayload {
		return nil, errdefs.New(errdefs.ErrRequestEntityTooLarge, "%d byte payload is too large for the Event invocation type (limit %d bytes)", len(in.Payload), MaxAsyncPayload)
	}
	if len(in.Payload) > MaxSyncPayload {
		return nil, errdefs.New(errdefs.ErrRequestEntityTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", MaxSyncPayload)
	}
	if len(in.Payload) > 0 {
		if msg := payloadProblem(in.Payload); msg != "" {
			return nil, errdefs.New(errdefs.ErrInvalidRequest, "%s", payloadParsePrefix+msg)
		}
	}
	t, err := d.ctl.ResolveInvoke(ctx, in.FunctionName, in.Qualifier)
	if err != nil {
		return nil, err
	}
	lineage := async.LineageOf(in.TraceHeader) + 1
	switch in.InvocationType {
	case "DryRun":
		return &Output{StatusCode: http.StatusNoContent, ExecutedVersion: t.Version}, nil
	case "Event":
		if d.events == nil {
			return nil, errdefs.New(errdefs.ErrService, "This server does not queue asynchronous invocations.")
		}
		err := d.events.Enqueue(ctx, &async.Event{
			RequestID:     in.RequestID,
			FunctionName:  t.FunctionName,
			Qualifier:     qualifierOf(t.FunctionArn),
			Payload:       in.Payload,
			ClientContext: in.ClientContext,
			Lineage:       lineage,
		})
		if err != nil {
			return nil, err
		}
		return &Output{StatusCode: http.StatusAccepted}, nil
	}
	if lineage > maxLineage {
		if loop, err := d.ctl.RecursiveLoop(t.FunctionName); err == nil && loop != "Allow" {
			// AWS's message is not recorded; this is the exception's documented meaning.
			return nil, errdefs.New(errdefs.ErrRecursiveInvocation, "Lambda has detected your function being invoked in a recursive loop with other Amazon Web Services resources and stopped your function's invocation.")
		}
	}
	v := versionOf(t)
	req := &worker.Request{RequestID: in.RequestID, Payload: in.Payload, ClientContext: in.ClientContext, TraceID: traceID(in.RequestID, lineage)}
	if len(req.Payload) == 0 {
		req.Payload = []byte("{}")
	}
	l, err := d.ctl.ConcurrencyLimits(t.FunctionName)
	if err != nil {
		return nil, err
	}
	res, err := d.run(ctx, v, req, l)
	if err != nil {
		return nil, err
	}
	out := &Output{StatusCode: http.StatusOK, Payload: res.Payload, FunctionError: res.FunctionError, ExecutedVersion: res.ExecutedVersion}
	if in.LogType == "Tail" {
		tail := res.Log
		if len(tail) > logTailBytes {
			tail = tail[len(tail)-logTailBytes:]
		}
		out.LogResult = base64.StdEncoding.EncodeToString(tail)
	}
	return out, nil
}

// clientContextObject reports whether an X-Amz-Client-Context is what AWS asks for:
// base64 of a JSON object.
func clientContextObject(cc string) bool {
	raw, err := base64.StdEncoding.DecodeString(cc)
	if err != nil || payloadProblem(raw) != "" {
		return false
	}
	first := bytes.TrimLeft(raw, " \t\r\n")
	return len(first) > 0 && first[0] == '{'
}

// initGrace is how long past the function timeout an Event invocation may take to
// cover its init phase.
const initGrace = 12 * time.Second

// versionOf is what shapes t's execution environments.
func versionOf(t *control.InvokeTarget) *worker.Version {
	return &worker.Version{
		FunctionName: t.FunctionName,
		FunctionArn:  t.FunctionArn,
		Version:      t.Version,
		Runtime:      t.Runtime,
		Handler:      t.Handler,
		MemoryMB:     t.MemoryMB,
		TimeoutSec:   t.TimeoutSec,
		EphemeralMB:  t.EphemeralMB,
		Environment:  t.Environment,
		Role:         t.Role,
		CodeKey:      t.CodeKey,
		ConfigID:     t.ConfigID,
	}
}

// run runs one invocation: on a free provisioned env of its version if there is
// one, else on an on-demand env within the function's concurrency limits l (a
// throttle when they are full). A failed init phase becomes the function error
// Lambda reports.
func (d *Dispatcher) run(ctx context.Context, v *worker.Version, req *worker.Request, l control.ConcurrencyLimits) (*worker.Result, error) {
	if l.Provisioned > 0 {
		done := d.counter.Provisioned(v.FunctionName)
		res, ok, err := d.pool.InvokeProvisioned(ctx, v, req)
		done()
		if ok {
			return res, err
		}
	}
	release, err := d.counter.Acquire(v.FunctionName, l)
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := d.pool.Invoke(ctx, v, req)
	var ie *worker.InitError
	if errors.As(err, &ie) {
		b, _ := json.Marshal(map[string]string{"errorType": ie.ErrorType, "errorMessage": ie.Message})
		return &worker.Result{Payload: b, FunctionError: "Unhandled", ExecutedVersion: v.Version, Log: ie.Log}, nil
	}
	return res, err
}

// maxLineage is Lambda's recursive loop limit: a request chain stops after this
// many invocations.
const maxLineage = 16

// RunEvent runs one attempt of a queued Event invocation of t, like a synchronous
// invoke: a provisioned env first, else within the function's concurrency. The
// queue decides what a throttle or a function error leads to.
func (d *Dispatcher) RunEvent(ctx context.Context, t *control.InvokeTarget, e *async.Event) (*async.Result, error) {
	l, err := d.ctl.ConcurrencyLimits(t.FunctionName)
	if err != nil {
		return nil, err
	}
	req := &worker.Request{RequestID: e.RequestID, Payload: e.Payload, ClientContext: e.ClientContext, TraceID: traceID(e.RequestID, e.Lineage)}
	if len(req.Payload) == 0 {
		req.Payload = []byte("{}")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(t.TimeoutSec)*time.Second+initGrace)
	defer cancel()
	res, err := d.run(ctx, versionOf(t), req, l)
	if err != nil {
		return nil, err
	}
	return &async.Result{Payload: res.Payload, FunctionError: res.FunctionError, ExecutedVersion: res.ExecutedVersion}, nil
}

// qualifierOf is the qualifier of a function ARN, "" when it has none.
func qualifierOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) == 8 {
		return parts[7]
	}
	return ""
}

// traceID is the X-Ray trace id an invocation gets (Lambda-Runtime-Trace-Id, the
// runtime's _X_AMZN_TRACE_ID). Hearth records no traces; the id is there for its
// Lineage field, which the SDKs in the function copy into the calls it makes, so a
// loop through Invoke or a queue is counted.
func traceID(requestID string, lineage int) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	sum := sha256.Sum256([]byte(requestID))
	return fmt.Sprintf("Root=1-%08x-%x;Parent=%x;Sampled=0;Lineage=%x:%d", time.Now().Unix(), b[:], sum[:8], sum[8:12], lineage)
}
