package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/agent"
	"github.com/hearthfn/hearth/internal/agentproto"
)

// In these tests the test itself is the runtime's client; the runtime process is a
// placeholder that only has to stay alive (or exit, or print) as each case needs.

var sleeper = []string{"/bin/sh", "-c", "exec sleep 60"}

// api is a Runtime API client.
type api struct {
	t    testing.TB
	base string
	c    *http.Client
}

func newAPI(t testing.TB, addr string) *api {
	// hearth-init listens before it starts the runtime, but the test is not the
	// runtime: it may dial before the listener is up.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		for {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil {
				return c, err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return &api{t: t, base: "http://" + addr + "/2018-06-01/runtime/", c: &http.Client{Transport: &http.Transport{DialContext: dial}}}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (a *api) do(method, path string, header map[string]string, body io.Reader) reply {
	a.t.Helper()
	r, err := a.try(method, path, header, body)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// try is do for goroutines other than the test's.
func (a *api) try(method, path string, header map[string]string, body io.Reader) (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return reply{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}, err
}

func (a *api) post(path string, header map[string]string, body string) reply {
	a.t.Helper()
	return a.do(http.MethodPost, path, header, strings.NewReader(body))
}

// next calls GET /invocation/next in the background: it blocks until an Invoke.
func (a *api) next() <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"invocation/next", nil)
		resp, err := a.c.Do(req)
		if err != nil {
			ch <- reply{status: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- reply{resp.StatusCode, resp.Header, string(b)}
	}()
	return ch
}

func wait(t testing.TB, ch <-chan reply) reply {
	t.Helper()
	select {
	case r := <-ch:
		if r.status < 0 {
			t.Fatalf("GET /next: %s", r.body)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("GET /next did not return")
	}
	return reply{}
}

func expectReply(t testing.TB, got reply, status int, body string) {
	t.Helper()
	if got.status != status || got.body != body {
		t.Fatalf("got %d %q, want %d %q", got.status, got.body, status, body)
	}
}

// ready starts hearth-init with a placeholder runtime and ends the init phase with
// the first /next, which stays pending.
func ready(t testing.TB) (*env, *api, <-chan reply) {
	t.Helper()
	e := startEnv(t, agentproto.Init{Cmd: sleeper, InitTimeoutMs: 10000})
	c := newAPI(t, e.addr)
	pending := c.next()
	e.expect(agentproto.KindInitDone, nil)
	return e, c, pending
}

func sendInvoke(e *env, id, payload string) {
	e.send(agentproto.KindInvoke, &agentproto.Invoke{RequestID: id, DeadlineMs: time.Now().Add(time.Minute).UnixMilli(), FunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:f"}, []byte(payload))
}

func result(e *env, id string) (agentproto.Result, string) {
	e.t.Helper()
	var res agentproto.Result
	f := e.expect(agentproto.KindResult, &res)
	if res.RequestID != id {
		e.t.Fatalf("Result for %q, want %q", res.RequestID, id)
	}
	return res, string(f.Body)
}

const accepted = "{\"status\":\"OK\"}\n"

func TestRuntimeAPINextHeaders(t *testing.T) {
	e, c, pending := ready(t)
	deadline := time.Now().Add(3 * time.Second).UnixMilli()
	clientContext := `{"client":{"app_title":"t"},"custom":{"a":"b"},"env":{}}`
	e.send(agentproto.KindInvoke, &agentproto.Invoke{
		RequestID:       "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
		DeadlineMs:      deadline,
		FunctionArn:     "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime",
		TraceID:         "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		ClientContext:   base64.StdEncoding.EncodeToString([]byte(clientContext)),
		CognitoIdentity: `{"cognitoIdentityId":"c","cognitoIdentityPoolId":"p"}`,
	}, []byte(`{"key":"value"}`))
	r := wait(t, pending)
	want := map[string]string{
		"Content-Type":                        "application/json",
		"Content-Length":                      "15",
		"Lambda-Runtime-Aws-Request-Id":       "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
		"Lambda-Runtime-Deadline-Ms":          strconv.FormatInt(deadline, 10),
		"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime",
		"Lambda-Runtime-Trace-Id":             "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		"Lambda-Runtime-Client-Context":       clientContext, // decoded, as runtimes json-decode it
		"Lambda-Runtime-Cognito-Identity":     `{"cognitoIdentityId":"c","cognitoIdentityPoolId":"p"}`,
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	expectReply(t, r, 200, `{"key":"value"}`)

	expectReply(t, c.post("invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response", nil, `"done"`), 202, accepted)
	if res, body := result(e, "8476a536-e9f4-11e8-9739-2dfe598c3fcd"); res.Error || body != `"done"` {
		t.Fatalf("%+v %s", res, body)
	}

	// Optional headers are absent when the invocation has none.
	pending = c.next()
	sendInvoke(e, "plain", "{}")
	r = wait(t, pending)
	for _, k := range []string{"Lambda-Runtime-Trace-Id", "Lambda-Runtime-Client-Context", "Lambda-Runtime-Cognito-Identity"} {
		if v, ok := r.header[k]; ok {
			t.Errorf("%s present: %q", k, v)
		}
	}
}

func TestRuntimeAPIInvalidRequestID(t *testing.T) {
	e, c, pending := ready(t)
	sendInvoke(e, "right", "{}")
	wait(t, pending)
	const invalid = "{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}\n"
	expectReply(t, c.post("invocation/wrong/response", nil, "x"), 400, invalid)
	expectReply(t, c.post("invocation/wrong/error", nil, "x"), 400, invalid)
	// The invocation is still the runtime's to answer.
	expectReply(t, c.post("invocation/right/response", nil, "ok"), 202, accepted)
	if res, body := result(e, "right"); res.Error || body != "ok" {
		t.Fatalf("%+v %s", res, body)
	}
}

func stateError(from, to string) string {
	return fmt.Sprintf("{\"errorMessage\":\"State transition from %s to %s failed for runtime. Error: State transition is not allowed\",\"errorType\":\"InvalidStateTransition\"}\n", from, to)
}

func TestRuntimeAPIDoubleResponse(t *testing.T) {
	e, c, pending := ready(t)
	sendInvoke(e, "r1", "{}")
	wait(t, pending)
	expectReply(t, c.post("invocation/r1/response", nil, "first"), 202, accepted)
	expectReply(t, c.post("invocation/r1/response", nil, "second"), 403, stateError("ResponseSent", "InvocationResponse"))
	expectReply(t, c.post("invocation/r1/error", nil, "third"), 403, stateError("ResponseSent", "InvocationErrorResponse"))
	if res, body := result(e, "r1"); res.Error || body != "first" {
		t.Fatalf("%+v %s", res, body)
	}
	// Only one Result: the next frame is the next invocation's.
	pending = c.next()
	sendInvoke(e, "r2", "{}")
	wait(t, pending)
	expectReply(t, c.post("invocation/r2/response", nil, "again"), 202, accepted)
	if res, body := result(e, "r2"); res.Error || body != "again" {
		t.Fatalf("%+v %s", res, body)
	}
}

func TestRuntimeAPIOutOfTurn(t *testing.T) {
	e := startEnv(t, agentproto.Init{Cmd: sleeper, InitTimeoutMs: 10000})
	c := newAPI(t, e.addr)
	// During init no invocation exists.
	expectReply(t, c.post("invocation/x/response", nil, "x"), 403, stateError("Started", "InvocationResponse"))
	pending := c.next()
	e.expect(agentproto.KindInitDone, nil)
	// Between invocations neither.
	expectReply(t, c.post("invocation/x/response", nil, "x"), 403, stateError("Ready", "InvocationResponse"))
	expectReply(t, c.post("invocation/x/error", nil, "x"), 403, stateError("Ready", "InvocationErrorResponse"))
	// Init is over.
	expectReply(t, c.post("init/error", nil, "x"), 403, stateError("Ready", "InitError"))
	// None of that disturbed the pending /next.
	sendInvoke(e, "r1", "{}")
	if r := wait(t, pending); r.header.Get("Lambda-Runtime-Aws-Request-Id") != "r1" {
		t.Fatalf("%+v", r)
	}
}

func TestRuntimeAPINextReservesInvocation(t *testing.T) {
	e, c, pending := ready(t)
	sendInvoke(e, "r1", `{"n":1}`)
	wait(t, pending)
	// A runtime that lost its /next (on another connection here) gets the same event.
	other := newAPI(t, e.addr)
	r := wait(t, other.next())
	if r.header.Get("Lambda-Runtime-Aws-Request-Id") != "r1" || r.body != `{"n":1}` {
		t.Fatalf("%+v", r)
	}
	expectReply(t, other.post("invocation/r1/response", nil, "ok"), 202, accepted)
	result(e, "r1")
	// An Invoke that arrives before the runtime's next /next waits for it.
	sendInvoke(e, "r2", `{"n":2}`)
	time.Sleep(20 * time.Millisecond)
	if r := wait(t, c.next()); r.header.Get("Lambda-Runtime-Aws-Request-Id") != "r2" || r.body != `{"n":2}` {
		t.Fatalf("%+v", r)
	}
}

func TestRuntimeAPIAbandonedNext(t *testing.T) {
	e, _, _ := ready(t) // that /next is left waiting, as by a runtime that moved on
	// Another /next gives up on its connection (a client timeout, say)...
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.addr+"/2018-06-01/runtime/invocation/next", nil)
	gaveUp := make(chan struct{})
	go func() {
		defer close(gaveUp)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-gaveUp
	// ...and the runtime polls again: it gets the invocation, whoever else waits.
	c := newAPI(t, e.addr)
	time.Sleep(20 * time.Millisecond)
	pending := c.next()
	time.Sleep(20 * time.Millisecond)
	sendInvoke(e, "r1", `{"n":1}`)
	if r := wait(t, pending); r.header.Get("Lambda-Runtime-Aws-Request-Id") != "r1" {
		t.Fatalf("%+v", r)
	}
	expectReply(t, c.post("invocation/r1/response", nil, "ok"), 202, accepted)
	if _, body := result(e, "r1"); body != "ok" {
		t.Fatalf("Result %q", body)
	}
}

func TestRuntimeAPIResponseTooLarge(t *testing.T) {
	tooLarge := "{\"errorMessage\":\"Exceeded maximum allowed payload size (6291556 bytes).\",\"errorType\":\"RequestEntityTooLarge\"}\n"
	lambdaError := `{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}`
	e, c, pending := ready(t)
	for i, tc := range []struct {
		name    string
		body    func() io.Reader
		chunked bool
	}{
		{"content-length", func() io.Reader { return bytes.NewReader(make([]byte, agent.MaxResponseSize+1)) }, false},
		{"chunked", func() io.Reader { return io.MultiReader(bytes.NewReader(make([]byte, agent.MaxResponseSize+1))) }, true},
	} {
		id := fmt.Sprintf("big-%d", i)
		sendInvoke(e, id, "{}")
		wait(t, pending)
		expectReply(t, c.do(http.MethodPost, "invocation/"+id+"/response", nil, tc.body()), 413, tooLarge)
		res, body := result(e, id)
		if !res.Error || res.ErrorType != "Function.ResponseSizeTooLarge" || body != lambdaError {
			t.Fatalf("%s: %+v %s", tc.name, res, body)
		}
		// The response is spent: the runtime's retry is refused.
		expectReply(t, c.post("invocation/"+id+"/response", nil, "small"), 403, stateError("ResponseSent", "InvocationResponse"))
		pending = c.next()
	}
	// Exactly the limit passes, through keep-alive connections that stayed in sync.
	sendInvoke(e, "max", "{}")
	wait(t, pending)
	body := bytes.Repeat([]byte("x"), agent.MaxResponseSize)
	posted := make(chan reply, 1)
	go func() {
		r, err := c.try(http.MethodPost, "invocation/max/response", nil, bytes.NewReader(body))
		if err != nil {
			r = reply{status: -1, body: err.Error()}
		}
		posted <- r
	}()
	// The Result is read while the POST is open, as the worker does: hearth-init
	// answers the runtime once the Result is written.
	if res, got := result(e, "max"); res.Error || got != string(body) {
		t.Fatalf("%+v, %d bytes", res, len(got))
	}
	expectReply(t, <-posted, 202, accepted)
}

func TestRuntimeAPIError(t *testing.T) {
	e, c, pending := ready(t)
	for _, tc := range []struct {
		header, body, wantType, wantBody string
	}{
		// A JSON error document goes through as posted.
		{"Runtime.HandlerError", `{"errorMessage":"bad","errorType":"ValueError","stackTrace":["a.py:1"]}`, "Runtime.HandlerError",
			`{"errorMessage":"bad","errorType":"ValueError","stackTrace":["a.py:1"]}`},
		// Without the header, the document's own type.
		{"", `{"errorMessage":"bad","errorType":"ValueError"}`, "ValueError", `{"errorMessage":"bad","errorType":"ValueError"}`},
		// Not JSON: wrapped, with the header's type...
		{"Custom.Thing", "plain text", "Custom.Thing", `{"errorMessage":"plain text","errorType":"Custom.Thing"}`},
		// ...or Unhandled.
		{"", "plain text", "Unhandled", `{"errorMessage":"plain text","errorType":"Unhandled"}`},
	} {
		id := "err-" + tc.wantType
		sendInvoke(e, id, "{}")
		wait(t, pending)
		h := map[string]string{}
		if tc.header != "" {
			h["Lambda-Runtime-Function-Error-Type"] = tc.header
		}
		expectReply(t, c.post("invocation/"+id+"/error", h, tc.body), 202, accepted)
		res, body := result(e, id)
		if !res.Error || res.ErrorType != tc.wantType || body != tc.wantBody {
			t.Fatalf("%+v %s, want %s %s", res, body, tc.wantType, tc.wantBody)
		}
		pending = c.next()
	}
}

func TestRuntimeAPIInitError(t *testing.T) {
	e := startEnv(t, agentproto.Init{Cmd: sleeper, InitTimeoutMs: 10000})
	c := newAPI(t, e.addr)
	doc := `{"errorMessage":"Unable to import module 'app': No module named 'app'","errorType":"Runtime.ImportModuleError","stackTrace":[]}`
	expectReply(t, c.post("init/error", map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"}, doc), 202, accepted)
	var ie agentproto.InitError
	f := e.expect(agentproto.KindInitError, &ie)
	if ie != (agentproto.InitError{ErrorType: "Runtime.ImportModuleError", Message: "Unable to import module 'app': No module named 'app'"}) || string(f.Body) != doc {
		t.Fatalf("%+v %s", ie, f.Body)
	}
	// The runtime does not exit on its own here: it is killed after the grace period.
	start := time.Now()
	if code := e.end(3 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("took %v to end", d)
	}
}

func TestRuntimeExitDuringInit(t *testing.T) {
	for _, tc := range []struct {
		script, message string
	}{
		{"echo starting; exit 3", "Runtime exited with error: exit status 3"},
		{"echo starting; exit 0", "Runtime exited without providing a reason"},
		{"echo starting; kill -9 $$", "Runtime exited with error: signal: killed"},
	} {
		e := startEnv(t, agentproto.Init{Cmd: []string{"/bin/sh", "-c", tc.script}, InitTimeoutMs: 10000})
		var ie agentproto.InitError
		e.expect(agentproto.KindInitError, &ie)
		if ie != (agentproto.InitError{ErrorType: "Runtime.ExitError", Message: tc.message}) {
			t.Fatalf("%q: %+v", tc.script, ie)
		}
		if len(e.logs) != 1 || e.logs[0] != (logLine{"", "stdout", "starting\n"}) {
			t.Fatalf("%q: logs before InitError:\n%s", tc.script, e.logText())
		}
		if code := e.end(3 * time.Second); code != 0 {
			t.Fatalf("hearth-init exited %d", code)
		}
	}
}

func TestRuntimeInvalidEntrypoint(t *testing.T) {
	e := startEnv(t, agentproto.Init{Cmd: []string{"/var/task/no-such-bootstrap"}})
	var ie agentproto.InitError
	e.expect(agentproto.KindInitError, &ie)
	if ie.ErrorType != "Runtime.InvalidEntrypoint" || ie.Message != "fork/exec /var/task/no-such-bootstrap: no such file or directory" {
		t.Fatalf("%+v", ie)
	}
	if code := e.end(3 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
}

func TestRuntimeExitBetweenInvocations(t *testing.T) {
	e := startEnv(t, agentproto.Init{Cmd: []string{"/bin/sh", "-c", "sleep 0.3; exit 4"}, InitTimeoutMs: 10000})
	c := newAPI(t, e.addr)
	c.next()
	e.expect(agentproto.KindInitDone, nil)
	var exit agentproto.RuntimeExit
	e.expect(agentproto.KindRuntimeExit, &exit)
	if exit != (agentproto.RuntimeExit{ExitCode: 4, Reason: "Runtime exited with error: exit status 4"}) {
		t.Fatalf("%+v", exit)
	}
	if code := e.end(3 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
}

func TestRuntimeKilledDuringInvocation(t *testing.T) {
	e, _, pending := ready(t)
	sendInvoke(e, "doomed", "{}")
	wait(t, pending)
	kids := e.children()
	if len(kids) != 1 {
		t.Fatalf("children %v", kids)
	}
	pid, _ := strconv.Atoi(kids[0])
	if err := killPid(pid); err != nil {
		t.Fatal(err)
	}
	res, body := result(e, "doomed")
	if !res.Error || res.ErrorType != "Runtime.ExitError" ||
		body != `{"errorMessage":"RequestId: doomed Error: Runtime exited with error: signal: killed","errorType":"Runtime.ExitError"}` {
		t.Fatalf("%+v %s", res, body)
	}
	var exit agentproto.RuntimeExit
	e.expect(agentproto.KindRuntimeExit, &exit)
	if exit != (agentproto.RuntimeExit{ExitCode: -1, Signal: "SIGKILL", Reason: "Runtime exited with error: signal: killed"}) {
		t.Fatalf("%+v", exit)
	}
	if code := e.end(3 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
}

func TestRuntimeAPINotFound(t *testing.T) {
	_, c, _ := ready(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "unknown"},
		{http.MethodPost, "invocation/next"},
		{http.MethodGet, "invocation/r1/response"},
		{http.MethodPost, "invocation/r1/unknown"},
		{http.MethodPost, "invocation//response"},
		{http.MethodGet, "init/error"},
	} {
		if r := c.do(tc.method, tc.path, nil, nil); r.status != 404 || !strings.Contains(r.body, `"errorType":"NotFound"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
		}
	}
}

func TestRuntimeAPIAddressPassedToRuntime(t *testing.T) {
	e := startEnv(t, agentproto.Init{
		Cmd:        []string{"/bin/sh", "-c", `echo "api=$AWS_LAMBDA_RUNTIME_API"; exec sleep 60`},
		RuntimeAPI: "127.0.0.1:0",
	})
	l := e.waitLog(func(l logLine) bool { return strings.HasPrefix(l.Text, "api=") }, 5*time.Second)
	addr := strings.TrimSpace(strings.TrimPrefix(l.Text, "api="))
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		t.Fatalf("runtime got AWS_LAMBDA_RUNTIME_API=%q", addr)
	}
	newAPI(t, addr).next()
	e.expect(agentproto.KindInitDone, nil)
}

// TestRuntimeAPIHTTP speaks raw HTTP/1.1 the ways runtime clients do.
func TestRuntimeAPIHTTP(t *testing.T) {
	e, _, pending := ready(t)
	conn, err := net.Dial("tcp", e.addr) // listening: InitDone came
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	readResponse := func() (int, string) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	invoke := func(id string) {
		t.Helper()
		sendInvoke(e, id, "{}")
		fmt.Fprintf(conn, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
		if code, _ := readResponse(); code != 200 {
			t.Fatalf("/next: %d", code)
		}
	}
	sendInvoke(e, "first", "{}")
	wait(t, pending) // the first /next takes the first invocation...
	// ...which is never answered there; it is re-served on this connection:
	fmt.Fprintf(conn, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
	if code, _ := readResponse(); code != 200 {
		t.Fatalf("/next: %d", code)
	}

	// Expect: 100-continue (libcurl does this for large bodies): the body follows the 100.
	fmt.Fprintf(conn, "POST /2018-06-01/runtime/invocation/first/response HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := br.ReadString('\n')
	blank, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" || blank != "\r\n" {
		t.Fatalf("got %q %q", line, blank)
	}
	fmt.Fprintf(conn, "hello")
	if code, body := readResponse(); code != 202 || body != accepted {
		t.Fatalf("%d %q", code, body)
	}
	if _, body := result(e, "first"); body != "hello" {
		t.Fatalf("Result %q", body)
	}

	// Chunked, with the trailers aws-lambda-go sends when a streamed response fails.
	invoke("streamed")
	errBody := base64.StdEncoding.EncodeToString([]byte(`{"errorMessage":"read failed","errorType":"ReadError"}`))
	fmt.Fprintf(conn, "POST /2018-06-01/runtime/invocation/streamed/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"+
		"Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"+
		"3\r\npar\r\n4;ext=1\r\ntial\r\n0\r\nLambda-Runtime-Function-Error-Type: ReadError\r\nLambda-Runtime-Function-Error-Body: %s\r\n\r\n", errBody)
	if code, body := readResponse(); code != 202 || body != accepted {
		t.Fatalf("%d %q", code, body)
	}
	if res, body := result(e, "streamed"); !res.Error || res.ErrorType != "ReadError" || body != `{"errorMessage":"read failed","errorType":"ReadError"}` {
		t.Fatalf("%+v %s", res, body)
	}

	// Chunked without trailers is a plain response.
	invoke("chunked")
	fmt.Fprintf(conn, "POST /2018-06-01/runtime/invocation/chunked/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if code, _ := readResponse(); code != 202 {
		t.Fatalf("%d", code)
	}
	if res, body := result(e, "chunked"); res.Error || body != "hello world" {
		t.Fatalf("%+v %s", res, body)
	}

	// A refused request's body is skipped, keeping the connection in sync.
	fmt.Fprintf(conn, "POST /2018-06-01/runtime/invocation/nope/response HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	if code, _ := readResponse(); code != 403 {
		t.Fatalf("%d", code)
	}

	// Connection: close is honoured.
	invoke("closing")
	fmt.Fprintf(conn, "POST /2018-06-01/runtime/invocation/closing/response HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	if code, _ := readResponse(); code != 202 {
		t.Fatalf("%d", code)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open: %v", err)
	}
	result(e, "closing")
}

func TestShutdown(t *testing.T) {
	// A runtime that ignores SIGTERM is killed after the grace period.
	e := startEnv(t, agentproto.Init{Cmd: []string{"/bin/sh", "-c", `trap "" TERM; sleep 60`}, InitTimeoutMs: 10000})
	newAPI(t, e.addr).next()
	e.expect(agentproto.KindInitDone, nil)
	start := time.Now()
	e.send(agentproto.KindShutdown, &agentproto.Shutdown{}, nil)
	if code := e.end(3 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

func TestStdinEOF(t *testing.T) {
	e, _, _ := ready(t)
	start := time.Now()
	e.stdin.Close()
	if code := e.end(3 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestInitVersionMismatch(t *testing.T) {
	e := startEnv(t, agentproto.Init{Version: agentproto.Version + 1, Cmd: sleeper})
	var ie agentproto.InitError
	e.expect(agentproto.KindInitError, &ie)
	if ie.ErrorType != "Sandbox.ProtocolError" || !strings.Contains(ie.Message, "version") {
		t.Fatalf("%+v", ie)
	}
	if code := e.end(3 * time.Second); code != 1 {
		t.Fatalf("hearth-init exited %d, want 1", code)
	}
}

func TestInitNotFirst(t *testing.T) {
	e := startRaw(t)
	sendInvoke(e, "r1", "{}")
	var ie agentproto.InitError
	e.expect(agentproto.KindInitError, &ie)
	if ie.ErrorType != "Sandbox.ProtocolError" {
		t.Fatalf("%+v", ie)
	}
	if code := e.end(3 * time.Second); code != 1 {
		t.Fatalf("hearth-init exited %d, want 1", code)
	}
}

func TestConcurrentInvokeIsProtocolError(t *testing.T) {
	e, _, _ := ready(t)
	sendInvoke(e, "r1", "{}")
	sendInvoke(e, "r2", "{}")
	if code := e.end(3 * time.Second); code != 2 {
		t.Fatalf("hearth-init exited %d, want 2", code)
	}
}

func TestZombiesReaped(t *testing.T) {
	// The subshell's sleep is orphaned and becomes hearth-init's child.
	e := startEnv(t, agentproto.Init{Cmd: []string{"/bin/sh", "-c", "(sleep 0.1 &); exec sleep 60"}, InitTimeoutMs: 10000})
	deadline := time.Now().Add(5 * time.Second)
	sawOrphan := false
	for {
		kids := e.children()
		zombies := 0
		for _, k := range kids {
			if procState(k) == "Z" {
				zombies++
			}
		}
		sawOrphan = sawOrphan || len(kids) > 1
		if sawOrphan && len(kids) == 1 && zombies == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("children %v (zombies %d, saw the orphan %v)", kids, zombies, sawOrphan)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLogCapture(t *testing.T) {
	// A line over MaxLogFrame goes out in pieces that add up; a partial line goes
	// out after a short wait; stderr is its own stream.
	script := `head -c 600000 /dev/zero | tr '\0' 'a'; echo; echo err >&2; printf 'prompt> '; exec sleep 60`
	e := startEnv(t, agentproto.Init{Cmd: []string{"/bin/sh", "-c", script}, InitTimeoutMs: 10000})
	e.waitLog(func(l logLine) bool { return l.Text == "prompt> " }, 5*time.Second)
	// stdout and stderr are separate pipes: no order between them.
	e.waitLog(func(l logLine) bool { return l.Stream == "stderr" }, 5*time.Second)
	var long strings.Builder
	sawErr := false
	for _, l := range e.logs {
		switch {
		case l.Stream == "stderr":
			sawErr = sawErr || l.Text == "err\n"
		case l.Text != "prompt> ":
			if len(l.Text) > agent.MaxLogFrame {
				t.Fatalf("Log frame of %d bytes", len(l.Text))
			}
			long.WriteString(l.Text)
		}
	}
	if long.String() != strings.Repeat("a", 600000)+"\n" || !sawErr {
		t.Fatalf("%d bytes of the long line, stderr seen %v", long.Len(), sawErr)
	}
}

// waitLog reads frames until a Log matching pred arrives; any other frame fails.
func (e *env) waitLog(pred func(logLine) bool, timeout time.Duration) logLine {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	seen := 0
	for {
		for _, l := range e.logs[seen:] {
			if pred(l) {
				return l
			}
		}
		seen = len(e.logs)
		if err := e.stdout.SetReadDeadline(deadline); err != nil {
			e.t.Fatal(err)
		}
		f, err := agentproto.Read(e.br)
		if err != nil {
			e.t.Fatalf("waiting for a log line: %v; logs so far:\n%s", err, e.logText())
		}
		if f.Kind != agentproto.KindLog {
			e.t.Fatalf("got %s while waiting for a log line", f.Kind)
		}
		var l agentproto.Log
		if err := f.Decode(&l); err != nil {
			e.t.Fatal(err)
		}
		e.logs = append(e.logs, logLine{l.RequestID, l.Stream, string(f.Body)})
	}
}
