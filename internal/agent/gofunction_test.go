package agent_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
)

// startGoFunction starts hearth-init with the aws-lambda-go test function and waits
// for the end of its init phase.
func startGoFunction(t testing.TB, extraEnv ...string) *env {
	t.Helper()
	e := startEnv(t, agentproto.Init{
		Cmd:           []string{goFunction(t)},
		Env:           append([]string{"PATH=/usr/bin:/bin", "AWS_LAMBDA_FUNCTION_NAME=test"}, extraEnv...),
		InitTimeoutMs: 10000,
	})
	var done agentproto.InitDone
	e.expect(agentproto.KindInitDone, &done)
	if done.DurationMs <= 0 {
		t.Fatalf("InitDone.DurationMs = %v", done.DurationMs)
	}
	return e
}

func TestGoFunctionEcho(t *testing.T) {
	e := startGoFunction(t)
	for i, payload := range []string{`{"action":"echo","n":1}`, `{"action":"echo","s":"two"}`, `[1,2,3]`} {
		res, body := e.invoke("req-echo-"+string(rune('a'+i)), payload)
		if res.Error || body != payload {
			t.Fatalf("invocation %d: %+v %q, want %q", i, res, body, payload)
		}
	}
	// The global scope's output belongs to no invocation and came before InitDone.
	if len(e.logs) == 0 || e.logs[0] != (logLine{"", "stdout", "init: global scope ran\n"}) {
		t.Fatalf("init logs:\n%s", e.logText())
	}
}

func TestGoFunctionModuleStateSurvives(t *testing.T) {
	e := startGoFunction(t)
	for want := 1; want <= 3; want++ {
		_, body := e.invoke("req-count-"+string(rune('0'+want)), `{"action":"count"}`)
		var got struct{ Invocations int }
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.Invocations != want {
			t.Fatalf("invocation %d answered %q", want, body)
		}
	}
}

func TestGoFunctionLogsTaggedWithRequestID(t *testing.T) {
	e := startGoFunction(t)
	e.invoke("req-log-1", `{"action":"log"}`)
	got := e.logsFor("req-log-1")
	want := []logLine{
		{"req-log-1", "stdout", "handling req-log-1\n"},
		{"req-log-1", "stderr", "stderr line for req-log-1\n"},
		{"req-log-1", "stdout", "no newline for req-log-1"}, // a partial line, flushed at the invocation's end
	}
	if !sameLogs(got, want) {
		t.Fatalf("logs of req-log-1:\n%s", e.logText())
	}
	// The next invocation's output is its own.
	e.invoke("req-log-2", `{"action":"log"}`)
	if n := len(e.logsFor("req-log-2")); n != 3 {
		t.Fatalf("req-log-2 has %d log lines:\n%s", n, e.logText())
	}
}

// The drain at each response polls the pipes once and reads only those with bytes
// waiting: over many invocations, every line written before the response still
// comes before the Result, under its request id.
func TestGoFunctionLogsDrainedAtEveryResponse(t *testing.T) {
	e := startGoFunction(t)
	for i := 0; i < 40; i++ {
		id := fmt.Sprintf("req-drain-%d", i)
		e.invoke(id, `{"action":"log"}`)
		if n := len(e.logsFor(id)); n != 3 {
			t.Fatalf("%s has %d log lines before its Result:\n%s", id, n, e.logText())
		}
	}
}

// sameLogs compares ignoring the interleaving of stdout and stderr, which are
// separate pipes.
func sameLogs(got, want []logLine) bool {
	if len(got) != len(want) {
		return false
	}
	for _, stream := range []string{"stdout", "stderr"} {
		var g, w []logLine
		for _, l := range got {
			if l.Stream == stream {
				g = append(g, l)
			}
		}
		for _, l := range want {
			if l.Stream == stream {
				w = append(w, l)
			}
		}
		if len(g) != len(w) {
			return false
		}
		for i := range g {
			if g[i] != w[i] {
				return false
			}
		}
	}
	return true
}

func TestGoFunctionError(t *testing.T) {
	e := startGoFunction(t)
	res, body := e.invoke("req-err", `{"action":"error","message":"boom"}`)
	if !res.Error || res.ErrorType != "errorString" || body != `{"errorMessage":"boom","errorType":"errorString"}` {
		t.Fatalf("Result %+v %s", res, body)
	}
	// aws-lambda-go logs the error document to stderr during the invocation.
	if l := e.logsFor("req-err"); len(l) != 1 || l[0].Stream != "stderr" || !strings.Contains(l[0].Text, `{"errorMessage":"boom","errorType":"errorString"}`) {
		t.Fatalf("logs:\n%s", e.logText())
	}
	// A handled error leaves the environment usable.
	if res, body := e.invoke("req-after-err", `{"action":"echo"}`); res.Error || body != `{"action":"echo"}` {
		t.Fatalf("after the error: %+v %s", res, body)
	}
}

func TestGoFunctionPanic(t *testing.T) {
	e := startGoFunction(t)
	res, body := e.invoke("req-panic", `{"action":"panic","message":"kaboom"}`)
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
		StackTrace   []struct {
			Path  string `json:"path"`
			Line  int    `json:"line"`
			Label string `json:"label"`
		} `json:"stackTrace"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if !res.Error || res.ErrorType != "string" || doc.ErrorMessage != "kaboom" || doc.ErrorType != "string" || len(doc.StackTrace) == 0 {
		t.Fatalf("Result %+v %s", res, body)
	}
	// aws-lambda-go exits after reporting a panic.
	var exit agentproto.RuntimeExit
	e.expect(agentproto.KindRuntimeExit, &exit)
	if exit != (agentproto.RuntimeExit{ExitCode: 1, Reason: "Runtime exited with error: exit status 1"}) {
		t.Fatalf("RuntimeExit %+v", exit)
	}
	if code := e.end(5 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
}

func TestGoFunctionExitDuringInvocation(t *testing.T) {
	e := startGoFunction(t)
	res, body := e.invoke("req-exit", `{"action":"exit"}`)
	want := `{"errorMessage":"RequestId: req-exit Error: Runtime exited with error: exit status 2","errorType":"Runtime.ExitError"}`
	if !res.Error || res.ErrorType != "Runtime.ExitError" || body != want {
		t.Fatalf("Result %+v %s", res, body)
	}
	if l := e.logsFor("req-exit"); len(l) != 1 || l[0].Text != "exiting\n" {
		t.Fatalf("logs:\n%s", e.logText())
	}
	var exit agentproto.RuntimeExit
	e.expect(agentproto.KindRuntimeExit, &exit)
	if exit != (agentproto.RuntimeExit{ExitCode: 2, Reason: "Runtime exited with error: exit status 2"}) {
		t.Fatalf("RuntimeExit %+v", exit)
	}
	if code := e.end(5 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
}

func TestGoFunctionSlowInit(t *testing.T) {
	e := startEnv(t, agentproto.Init{Cmd: []string{goFunction(t)}, Env: []string{"INIT_SLEEP_MS=300"}, InitTimeoutMs: 5000})
	var done agentproto.InitDone
	e.expect(agentproto.KindInitDone, &done)
	if done.DurationMs < 300 || done.DurationMs > 3000 {
		t.Fatalf("InitDone.DurationMs = %v, want about 300", done.DurationMs)
	}
	if res, body := e.invoke("req-1", `{"action":"echo"}`); res.Error || body != `{"action":"echo"}` {
		t.Fatalf("%+v %s", res, body)
	}
}

func TestGoFunctionInitTimeout(t *testing.T) {
	e := startEnv(t, agentproto.Init{Cmd: []string{goFunction(t)}, Env: []string{"INIT_SLEEP_MS=5000"}, InitTimeoutMs: 200})
	var ie agentproto.InitError
	e.expect(agentproto.KindInitError, &ie)
	if ie != (agentproto.InitError{ErrorType: "Runtime.InitTimeout", Message: "Init phase timed out after 0.20 seconds"}) {
		t.Fatalf("InitError %+v", ie)
	}
	if code := e.end(3 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
}

func TestGoFunctionContextHeaders(t *testing.T) {
	e := startGoFunction(t)
	deadline := time.Now().Add(42 * time.Second).UnixMilli()
	clientContext := `{"client":{"installation_id":"inst-1","app_title":"app"},"custom":{"k":"v"},"env":{"platform":"test"}}`
	e.send(agentproto.KindInvoke, &agentproto.Invoke{
		RequestID:       "req-ctx",
		DeadlineMs:      deadline,
		FunctionArn:     "arn:aws:lambda:us-east-1:123456789012:function:test:live",
		TraceID:         "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		ClientContext:   base64.StdEncoding.EncodeToString([]byte(clientContext)),
		CognitoIdentity: `{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}`,
	}, []byte(`{"action":"context"}`))
	var res agentproto.Result
	f := e.expect(agentproto.KindResult, &res)
	var got struct {
		RequestID     string `json:"requestId"`
		FunctionArn   string `json:"functionArn"`
		DeadlineMs    int64  `json:"deadlineMs"`
		TraceID       string `json:"traceId"`
		ClientContext struct {
			Client struct {
				InstallationID string `json:"installation_id"`
			} `json:"Client"`
			Custom map[string]string `json:"custom"`
		} `json:"clientContext"`
		Identity struct {
			CognitoIdentityID     string
			CognitoIdentityPoolID string
		} `json:"identity"`
	}
	if err := json.Unmarshal(f.Body, &got); err != nil {
		t.Fatalf("%v: %s", err, f.Body)
	}
	if res.Error || got.RequestID != "req-ctx" || got.FunctionArn != "arn:aws:lambda:us-east-1:123456789012:function:test:live" ||
		got.DeadlineMs != deadline || got.TraceID != "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1" ||
		got.ClientContext.Client.InstallationID != "inst-1" || got.ClientContext.Custom["k"] != "v" ||
		got.Identity.CognitoIdentityID != "id-1" || got.Identity.CognitoIdentityPoolID != "pool-1" {
		t.Fatalf("the function saw %s", f.Body)
	}
}

func TestGoFunctionShutdown(t *testing.T) {
	e := startGoFunction(t)
	e.invoke("req-1", `{"action":"echo"}`)
	start := time.Now()
	e.send(agentproto.KindShutdown, &agentproto.Shutdown{}, nil)
	if code := e.end(2 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

// BenchmarkWarmInvoke measures one warm invocation end to end as the worker sees it:
// Invoke frame out, through the Runtime API into an aws-lambda-go function that
// echoes the event, Result frame back.
func BenchmarkWarmInvoke(b *testing.B) {
	e := startGoFunction(b)
	payload := []byte(`{"action":"echo","key":"value"}`)
	hdr := agentproto.Invoke{
		RequestID:   "bench",
		DeadlineMs:  time.Now().Add(time.Hour).UnixMilli(),
		FunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:bench",
	}
	e.invoke("warmup", string(payload))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.send(agentproto.KindInvoke, &hdr, payload)
		f := e.frame(10 * time.Second)
		if f == nil || f.Kind != agentproto.KindResult || len(f.Body) != len(payload) {
			b.Fatalf("got %v", f)
		}
	}
}

// BenchmarkWarmInvokeMinimalRuntime is BenchmarkWarmInvoke with a runtime that has
// no client overhead to speak of: what is left is hearth-init, the kernel and the
// worker's end.
func BenchmarkWarmInvokeMinimalRuntime(b *testing.B) {
	e := startEnv(b, agentproto.Init{Cmd: []string{minimalRuntime(b)}, InitTimeoutMs: 10000})
	e.expect(agentproto.KindInitDone, nil)
	payload := []byte(`{"action":"echo","key":"value"}`)
	hdr := agentproto.Invoke{
		RequestID:   "bench",
		DeadlineMs:  time.Now().Add(time.Hour).UnixMilli(),
		FunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:bench",
	}
	e.invoke("warmup", string(payload))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.send(agentproto.KindInvoke, &hdr, payload)
		f := e.frame(10 * time.Second)
		if f == nil || f.Kind != agentproto.KindResult || len(f.Body) != len(payload) {
			b.Fatalf("got %v", f)
		}
	}
}
