package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
	"github.com/hearthfn/hearth/internal/sandbox"
)

// run hands one invocation to e and waits for its result, its deadline, or the env's
// death. A result that leaves the env unusable marks it dead; release discards it.
func (p *Pool) run(ctx context.Context, e *env, v *Version, req *Request) *Result {
	start := time.Now()
	timeout := time.Duration(v.TimeoutSec) * time.Second
	deadline := start.Add(timeout)
	e.mu.Lock()
	il := newInvocationLog(e.logSink)
	il.tail, e.initTail = e.initTail, nil
	il.platformf("START RequestId: %s Version: %s\n", req.RequestID, v.Version)
	e.log = il
	initDur := e.initReport
	e.initReport = 0
	e.mu.Unlock()

	res := &Result{ExecutedVersion: v.Version, InitDuration: initDur}
	err := e.send(agentproto.KindInvoke, agentproto.Invoke{
		RequestID:     req.RequestID,
		DeadlineMs:    deadline.UnixMilli(),
		FunctionArn:   v.FunctionArn,
		TraceID:       req.TraceID,
		ClientContext: req.ClientContext,
	}, req.Payload)
	var died error
	kill := false // the env cannot serve again; killed after its stats are read
	oom := false
	if err != nil {
		died = fmt.Errorf("send invocation: %w", err)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	// The OOM killer's count is watched while the invocation runs: a runtime killed
	// for memory is answered at once, however slowly a small function's throttled
	// hearth-init gets to report the exit.
	oomWatch := time.NewTicker(oomPoll)
	defer oomWatch.Stop()
wait:
	for died == nil {
		select {
		case f, ok := <-e.frames:
			if !ok {
				died = errors.New("hearth-init closed its stream")
				break wait
			}
			switch f.Kind {
			case agentproto.KindResult:
				var r agentproto.Result
				_ = f.Decode(&r)
				if r.RequestID != req.RequestID {
					continue // a late result of an earlier, timed-out invocation
				}
				res.Payload = f.Body
				if r.Error {
					res.FunctionError = "Unhandled"
				}
				if r.ErrorType == "Runtime.ExitError" {
					// hearth-init answers for a runtime that died mid-invocation,
					// then reports the exit: this env is done.
					kill = true
					if e.oomKilledSince() {
						oom = true
						res.Payload = errorPayload("Runtime.OutOfMemory", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: signal: killed", req.RequestID))
					}
				}
				break wait
			case agentproto.KindRuntimeExit:
				var x agentproto.RuntimeExit
				_ = f.Decode(&x)
				died = errors.New(x.Reason)
			}
		case <-oomWatch.C:
			if e.oomKilledSince() {
				died = errors.New("Runtime exited with error: signal: killed")
			}
		case <-timer.C:
			res.FunctionError = "Unhandled"
			msg := fmt.Sprintf("%s %s Task timed out after %.2f seconds", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), req.RequestID, timeout.Seconds())
			res.Payload = errorPayload("Sandbox.Timedout", msg)
			e.mu.Lock()
			il.platform([]byte(msg + "\n"))
			e.mu.Unlock()
			kill = true // the only way to stop a function that does not return
			break wait
		case <-ctx.Done():
			// The caller went away; the function cannot be interrupted, so the env goes.
			res.FunctionError = "Unhandled"
			res.Payload = errorPayload("Sandbox.Canceled", "the invocation was canceled: "+ctx.Err().Error())
			kill = true
			break wait
		}
	}
	if died != nil {
		res.FunctionError = "Unhandled"
		errType, reason := "Runtime.ExitError", died.Error()
		if e.oomKilledSince() || errors.Is(e.sb.Err(), sandbox.ErrOOM) || e.oomKilled() {
			errType, reason, oom = "Runtime.OutOfMemory", "Runtime exited with error: signal: killed", true
		}
		if !strings.HasPrefix(reason, "Runtime exited") {
			reason = "Runtime exited with error: " + reason
		}
		msg := fmt.Sprintf("RequestId: %s Error: %s", req.RequestID, reason)
		res.Payload = errorPayload(errType, msg)
		e.mu.Lock()
		il.platform([]byte(msg + "\n"))
		e.mu.Unlock()
		kill = true
	}
	res.Duration = time.Since(start)

	// Measured before any kill: a killed sandbox's cgroup is gone.
	stats, _ := e.sb.Stats(context.Background())
	e.oomKills = max(e.oomKills, stats.OOMKills)
	res.MaxMemoryUsedMB = min(int(math.Ceil(float64(stats.MemoryPeakBytes)/(1<<20))), v.MemoryMB)
	if oom && res.MaxMemoryUsedMB == 0 {
		// The OOM killer took the whole sandbox, cgroup and all; it used its limit.
		res.MaxMemoryUsedMB = v.MemoryMB
	}
	if kill {
		e.markDead()
		go e.kill() // release discards it; nobody waits for the processes to go
	}

	e.mu.Lock()
	e.log = nil // the reader no longer touches il
	e.mu.Unlock()
	il.noteDropped()
	il.platformf("END RequestId: %s\n", req.RequestID)
	report := fmt.Appendf(nil, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
		req.RequestID, ms(res.Duration), int64(math.Ceil(ms(res.Duration))), v.MemoryMB, res.MaxMemoryUsedMB)
	if initDur > 0 {
		report = fmt.Appendf(report, "Init Duration: %.2f ms\t", ms(initDur))
	}
	il.platform(append(report, '\n'))
	res.Log = il.finish()
	return res
}

// oomPoll is how often a running invocation's sandbox is checked for OOM kills.
const oomPoll = 100 * time.Millisecond

// oomKilledSince reports whether the kernel's OOM killer killed a process of the
// sandbox since the env's last invocation ended (the cgroup's counter moved).
func (e *env) oomKilledSince() bool {
	st, err := e.sb.Stats(context.Background())
	return err == nil && st.OOMKills > e.oomKills
}

// oomKilled reports whether the sandbox died of its memory limit.
func (e *env) oomKilled() bool {
	select {
	case <-e.sb.Done():
		return errors.Is(e.sb.Err(), sandbox.ErrOOM)
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
