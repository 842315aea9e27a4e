package runtimes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// A fake of the Lambda Runtime API, as hearth-init serves it: invocations are queued
// by the test and handed out by GET next; responses, errors and init errors are
// recorded. It is enough to drive a client; the real server is hearth-init's.

type invocation struct {
	ID      string
	Body    string
	Headers map[string]string // added to (or replacing) the defaults of GET next
}

type result struct {
	Kind   string // "response", "error" or "init"
	Header http.Header
	Body   []byte
	At     time.Time
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s body is not a JSON object: %v: %s", r.Kind, err, r.Body)
	}
	return m
}

// transport varies how the fake answers, to exercise the clients' HTTP code.
type transport struct {
	chunked       bool // GET next answers with a chunked body
	connClose     bool // every answer says Connection: close and ends the connection
	dropAfterPost bool // answers a POST as if keeping the connection, then drops it
}

type fakeAPI struct {
	t     testing.TB
	tr    transport
	srv   *httptest.Server
	queue chan invocation
	nexts chan time.Time // the time of each GET next, as it arrives
	inits chan result

	mu      sync.Mutex
	results map[string]chan result
}

const apiPrefix = "/2018-06-01/runtime/"

func newFakeAPI(t testing.TB) *fakeAPI { return newFakeAPIWith(t, transport{}) }

func newFakeAPIWith(t testing.TB, tr transport) *fakeAPI {
	f := &fakeAPI{
		t:       t,
		tr:      tr,
		queue:   make(chan invocation, 16),
		nexts:   make(chan time.Time, 1024),
		inits:   make(chan result, 4),
		results: map[string]chan result{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"invocation/next", f.next)
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		f.record(w, r, "response", r.PathValue("id"))
	})
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) {
		f.record(w, r, "error", r.PathValue("id"))
	})
	mux.HandleFunc("POST "+apiPrefix+"init/error", func(w http.ResponseWriter, r *http.Request) {
		f.record(w, r, "init", "")
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeAPI) next(w http.ResponseWriter, r *http.Request) {
	select {
	case f.nexts <- time.Now():
	default:
	}
	var inv invocation
	select {
	case inv = <-f.queue:
	case <-r.Context().Done():
		return
	}
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.ID)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:fn")
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1")
	h.Set("Content-Type", "application/json")
	for k, v := range inv.Headers {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
	}
	body := inv.Body
	if body == "" {
		body = "{}"
	}
	if f.tr.connClose {
		h.Set("Connection", "close")
	}
	if f.tr.chunked {
		// No length and a flush in the middle: net/http sends chunks.
		half := len(body) / 2
		io.WriteString(w, body[:half])
		w.(http.Flusher).Flush()
		io.WriteString(w, body[half:])
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	io.WriteString(w, body)
}

func (f *fakeAPI) record(w http.ResponseWriter, r *http.Request, kind, id string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	res := result{Kind: kind, Header: r.Header.Clone(), Body: body, At: time.Now()}
	if kind == "init" {
		select {
		case f.inits <- res:
		default:
		}
	} else {
		f.mu.Lock()
		ch := f.results[id]
		f.mu.Unlock()
		if ch == nil {
			http.Error(w, `{"errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		select {
		case ch <- res:
		default: // a second answer for the same invocation
			http.Error(w, `{"errorType":"InvalidStateTransition"}`, http.StatusForbidden)
			return
		}
	}
	if f.tr.dropAfterPost {
		conn, bufrw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		bufrw.WriteString("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}")
		bufrw.Flush()
		conn.Close()
		return
	}
	if f.tr.connClose {
		w.Header().Set("Connection", "close")
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

// send queues an invocation and returns the channel its answer arrives on.
func (f *fakeAPI) send(inv invocation) <-chan result {
	ch := make(chan result, 1)
	f.mu.Lock()
	f.results[inv.ID] = ch
	f.mu.Unlock()
	f.queue <- inv
	return ch
}

var invokeSeq struct {
	sync.Mutex
	n int
}

func newID() string {
	invokeSeq.Lock()
	defer invokeSeq.Unlock()
	invokeSeq.n++
	return fmt.Sprintf("8476a536-e9f4-11e8-9739-%012d", invokeSeq.n)
}

// invoke sends one invocation and waits for its answer.
func (f *fakeAPI) invoke(t testing.TB, p *proc, inv invocation) result {
	t.Helper()
	if inv.ID == "" {
		inv.ID = newID()
	}
	select {
	case r := <-f.send(inv):
		return r
	case <-p.done:
		t.Fatalf("the runtime exited (%v) before answering %s\nstdout:\n%s\nstderr:\n%s", p.err, inv.ID, p.stdout, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer for %s\nstdout:\n%s\nstderr:\n%s", inv.ID, p.stdout, p.stderr)
	}
	return result{}
}

func (f *fakeAPI) initError(t testing.TB, p *proc) result {
	t.Helper()
	select {
	case r := <-f.inits:
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("no init error\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
	}
	return result{}
}

// ---------------------------------------------------------------------------
// Running a client as the sandbox would, minus the sandbox: the client file goes to
// a temporary directory standing in for /var/runtime, the function's code to
// another standing in for /var/task.

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	cmd            *exec.Cmd
	started        time.Time
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error
	runtimeDir     string
	taskDir        string
}

func (p *proc) exitCode(t testing.TB) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the runtime did not exit\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitOutput waits until the process's stdout (or stderr) contains s: the pipes are
// copied by goroutines, so what the client wrote may arrive a little after its POST.
func (p *proc) waitOutput(t testing.TB, stderr bool, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := p.stdout.String()
		if stderr {
			out = p.stderr.String()
		}
		if m := rx.FindString(out); m != "" {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("output does not match %q\nstdout:\n%s\nstderr:\n%s", re, p.stdout, p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lookupOrSkip(t testing.TB, name string) Runtime {
	t.Helper()
	rt, err := Lookup(name)
	if errors.Is(err, ErrNoInterpreter) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fn is one function under test: its runtime, code and handler.
type fn struct {
	runtime string
	handler string
	files   map[string]string
	env     []string
	source  bool // python: run bootstrap.py itself rather than the compiled bootstrap.pyc
}

// start runs the function's runtime client against api, like hearth-init would.
func start(t testing.TB, api *fakeAPI, f fn) *proc {
	t.Helper()
	rt := lookupOrSkip(t, f.runtime)
	runtimeDir := t.TempDir()
	for name, b := range rt.Files {
		if err := os.WriteFile(filepath.Join(runtimeDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	taskDir := t.TempDir()
	writeFiles(t, taskDir, f.files)

	args := slices.Clone(rt.Cmd)
	for i, a := range args {
		if f.source && a == Dir+"/bootstrap.pyc" {
			a = Dir + "/bootstrap.py"
		}
		args[i] = strings.Replace(a, Dir+"/", runtimeDir+"/", 1)
	}
	cmd := exec.Command(args[0], args[1:]...)
	// The environment a sandbox gets: Lambda's variables, no HOME, nothing of ours.
	cmd.Env = append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + api.addr(),
		"_HANDLER=" + f.handler,
		"LAMBDA_TASK_ROOT=" + taskDir,
		"LAMBDA_RUNTIME_DIR=" + runtimeDir,
		"AWS_EXECUTION_ENV=AWS_Lambda_" + f.runtime,
		"AWS_LAMBDA_FUNCTION_NAME=fn",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn",
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]0123456789abcdef",
		"AWS_REGION=us-east-1",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"PATH=/usr/local/bin:/usr/bin:/bin",
	}, f.env...)
	cmd.Dir = "/" // the client must move to the code directory itself
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), runtimeDir: runtimeDir, taskDir: taskDir}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	})
	return p
}

func mustEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func decode(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

// ---------------------------------------------------------------------------
// The Go API.

func TestLookup(t *testing.T) {
	for _, name := range []string{"provided", "provided.al2", "provided.al2023"} {
		rt, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, name+" Cmd", rt.Cmd, []string{"/var/task/bootstrap"})
		mustEqual(t, name+" Family", rt.Family, FamilyProvided)
		if rt.Files != nil || rt.Interpreter != "" {
			t.Errorf("%s: Files %v, Interpreter %q; want none", name, rt.Files, rt.Interpreter)
		}
		if err := Check(name); err != nil {
			t.Errorf("Check(%s) = %v", name, err)
		}
	}

	for _, name := range []string{"java21", "python2.7", "nodejs24.x", ""} {
		if _, err := Lookup(name); !errors.Is(err, ErrUnknownRuntime) {
			t.Errorf("Lookup(%q) = %v, want ErrUnknownRuntime", name, err)
		}
		if err := Check(name); !errors.Is(err, ErrUnknownRuntime) {
			t.Errorf("Check(%q) = %v, want ErrUnknownRuntime", name, err)
		}
	}

	for _, tc := range []struct {
		names  []string
		family string
		file   string
	}{
		{[]string{"python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"}, FamilyPython, "bootstrap.py"},
		{[]string{"nodejs18.x", "nodejs20.x", "nodejs22.x"}, FamilyNode, "index.cjs"},
	} {
		for _, name := range tc.names {
			rt := lookupOrSkip(t, name)
			if rt.Name != name || rt.Family != tc.family {
				t.Errorf("Lookup(%s) = %s/%s", name, rt.Name, rt.Family)
			}
			if len(rt.Files[tc.file]) == 0 {
				t.Errorf("%s Files = %v keys, want %s", name, len(rt.Files), tc.file)
			}
			script := Dir + "/" + tc.file
			if _, ok := rt.Files["bootstrap.pyc"]; ok {
				script += "c"
			}
			if rt.Cmd[0] != rt.Interpreter || !filepath.IsAbs(rt.Interpreter) || rt.Cmd[len(rt.Cmd)-1] != script {
				t.Errorf("%s Cmd = %q (interpreter %q)", name, rt.Cmd, rt.Interpreter)
			}
			if !visibleInSandbox(rt.Interpreter) {
				t.Errorf("%s interpreter %s is not under /usr or /bin", name, rt.Interpreter)
			}
			v, err := InterpreterVersion(name)
			if err != nil || !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v) {
				t.Errorf("InterpreterVersion(%s) = %q, %v", name, v, err)
			}
		}
	}
	if v, err := InterpreterVersion("provided.al2023"); v != "" || err != nil {
		t.Errorf("InterpreterVersion(provided.al2023) = %q, %v", v, err)
	}
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "python3")
	if err := os.WriteFile(outside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	fam := &family{name: FamilyPython, what: "a Python 3 interpreter", candidates: []string{filepath.Join(dir, "missing"), link}}
	_, err := resolve("python3.12", fam)
	if !errors.Is(err, ErrNoInterpreter) {
		t.Fatalf("resolve = %v, want ErrNoInterpreter", err)
	}
	want := fmt.Sprintf("runtime python3.12 needs a Python 3 interpreter; none was found at %s/missing or %s (%s resolves to %s, which a sandbox cannot see", dir, link, link, outside)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q\nwant prefix %q", err, want)
	}

	fam.candidates = []string{"/usr/bin/does-not-exist-python3", "/usr/local/bin/does-not-exist-python3"}
	_, err = resolve("python3.12", fam)
	mustEqual(t, "message", err.Error(), "runtime python3.12 needs a Python 3 interpreter; none was found at /usr/bin/does-not-exist-python3 or /usr/local/bin/does-not-exist-python3")
}

// ---------------------------------------------------------------------------
// Python.

const pyRuntime = "python3.12"

func TestPythonEcho(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: pyRuntime, handler: "lambda_function.lambda_handler", files: map[string]string{
		"lambda_function.py": "def lambda_handler(event, context):\n    return event\n",
	}})
	event := `{"key1":"value1","n":[1,2.5,null,true],"nested":{"ü":"✓"}}`
	r := api.invoke(t, p, invocation{Body: event})
	mustEqual(t, "kind", r.Kind, "response")
	mustEqual(t, "body", decode(t, r.Body), decode(t, []byte(event)))
	mustEqual(t, "content type", r.Header.Get("Content-Type"), "application/json")

	// None is null.
	api2 := newFakeAPI(t)
	p2 := start(t, api2, fn{runtime: pyRuntime, handler: "lambda_function.lambda_handler", files: map[string]string{
		"lambda_function.py": "def lambda_handler(event, context):\n    pass\n",
	}})
	r = api2.invoke(t, p2, invocation{})
	mustEqual(t, "None", string(r.Body), "null")
}

func TestPythonContext(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: pyRuntime, handler: "lambda_function.handler", files: map[string]string{
		"lambda_function.py": `import builtins, os, site, sys

def handler(event, context):
    cc = context.client_context
    ident = context.identity
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_context": None if cc is None else {
            "custom": cc.custom, "env": cc.env,
            "installation_id": cc.client.installation_id, "app_title": cc.client.app_title,
            "app_version_name": cc.client.app_version_name, "app_version_code": cc.client.app_version_code,
            "app_package_name": cc.client.app_package_name,
        },
        "identity": None if ident is None else {"id": ident.cognito_identity_id, "pool": ident.cognito_identity_pool_id},
        "w3c": context.w3c(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "home": os.environ.get("HOME"),
        "exit_builtin": callable(getattr(builtins, "exit", None)),
        "site_dirs_on_path": all(d in sys.path for d in site.getsitepackages() if os.path.isdir(d)),
        "runtime_dir_on_path": any(p.endswith("/bootstrap.py") or os.path.exists(os.path.join(p, "bootstrap.py")) for p in sys.path),
    }
`,
	}})
	taskDir := p.taskDir

	clientContext := `{"client":{"installation_id":"inst-1","app_title":"App","app_version_name":"1.0","app_version_code":"7","app_package_name":"com.example"},"custom":{"k":"v"},"env":{"platform":"test"},"w3c":{"traceparent":"00-abc-def-01","other":"x"}}`
	identity := `{"cognitoIdentityId":"us-east-1:123","cognitoIdentityPoolId":"us-east-1:pool"}`
	id := newID()
	r := api.invoke(t, p, invocation{ID: id, Headers: map[string]string{
		"Lambda-Runtime-Client-Context":   clientContext,
		"Lambda-Runtime-Cognito-Identity": identity,
	}})
	if r.Kind != "response" {
		t.Fatalf("%s: %s", r.Kind, r.Body)
	}
	got := r.json(t)
	remaining := got["remaining"].(float64)
	if remaining <= 0 || remaining > 30000 {
		t.Errorf("remaining = %v, want in (0, 30000]", remaining)
	}
	delete(got, "remaining")
	mustEqual(t, "context", got, map[string]any{
		"aws_request_id":       id,
		"function_name":        "fn",
		"function_version":     "$LATEST",
		"invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
		"memory_limit_in_mb":   "256", // a string on AWS too
		"log_group_name":       "/aws/lambda/fn",
		"log_stream_name":      "2026/01/01/[$LATEST]0123456789abcdef",
		"client_context": map[string]any{
			"custom": map[string]any{"k": "v"}, "env": map[string]any{"platform": "test"},
			"installation_id": "inst-1", "app_title": "App", "app_version_name": "1.0",
			"app_version_code": "7", "app_package_name": "com.example",
		},
		"identity": map[string]any{"id": "us-east-1:123", "pool": "us-east-1:pool"},
		"w3c":      map[string]any{"traceparent": "00-abc-def-01"},
		"trace":    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		"cwd":      taskDir,
		"path0":    taskDir,
		"home":     nil,
		// -S took site's start-up hooks away, not what they give a function.
		"exit_builtin":        true,
		"site_dirs_on_path":   true,
		"runtime_dir_on_path": false,
	})

	// Without the headers: no client context, an identity with empty fields (as on
	// AWS), and no trace id left over from the previous invocation.
	r = api.invoke(t, p, invocation{Headers: map[string]string{"Lambda-Runtime-Trace-Id": ""}})
	got = r.json(t)
	mustEqual(t, "client_context", got["client_context"], nil)
	mustEqual(t, "identity", got["identity"], map[string]any{"id": nil, "pool": nil})
	mustEqual(t, "trace", got["trace"], nil)
}

// bothModes runs a Python test with the compiled client (as Hearth runs it) and
// with its source (what runs when the compile fails).
func bothModes(t *testing.T, test func(t *testing.T, source bool)) {
	for _, source := range []bool{false, true} {
		t.Run(map[bool]string{false: "bytecode", true: "source"}[source], func(t *testing.T) {
			t.Parallel()
			test(t, source)
		})
	}
}

func TestPythonErrors(t *testing.T) {
	t.Parallel()
	bothModes(t, testPythonErrors)
}

func testPythonErrors(t *testing.T, source bool) {
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: pyRuntime, handler: "lambda_function.handler", source: source, files: map[string]string{
		"lambda_function.py": `def inner():
    raise ValueError("boom")

def handler(event, context):
    if event.get("kind") == "set":
        return {1, 2}
    if event.get("kind") == "decimal":
        from decimal import Decimal
        return {"a": Decimal("1.5"), "b": Decimal("10"), "c": [Decimal("-3")]}
    if event.get("kind") == "bytes":
        return b"raw\x00bytes"
    inner()
`,
	}})
	taskDir := p.taskDir

	id := newID()
	r := api.invoke(t, p, invocation{ID: id})
	mustEqual(t, "kind", r.Kind, "error")
	mustEqual(t, "error", r.json(t), map[string]any{
		"errorMessage": "boom",
		"errorType":    "ValueError",
		"requestId":    id,
		"stackTrace": []any{
			fmt.Sprintf("  File \"%s/lambda_function.py\", line 12, in handler\n    inner()\n", taskDir),
			fmt.Sprintf("  File \"%s/lambda_function.py\", line 2, in inner\n    raise ValueError(\"boom\")\n", taskDir),
		},
	})
	mustEqual(t, "error type header", r.Header.Get("Lambda-Runtime-Function-Error-Type"), "ValueError")
	// The log line AWS's client writes: one event, lines joined by \r.
	p.waitOutput(t, false, `\[ERROR\] ValueError: boom\rTraceback \(most recent call last\):\r\x{a0}\x{a0}File "[^"]+/lambda_function.py", line 12, in handler\r`)

	id = newID()
	r = api.invoke(t, p, invocation{ID: id, Body: `{"kind":"set"}`})
	mustEqual(t, "marshal error", r.json(t), map[string]any{
		"errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
		"errorType":    "Runtime.MarshalError",
		"requestId":    id,
		"stackTrace":   []any{},
	})

	r = api.invoke(t, p, invocation{Body: `{"kind":"decimal"}`})
	mustEqual(t, "decimal", string(r.Body), `{"a": 1.5, "b": 10, "c": [-3]}`)

	r = api.invoke(t, p, invocation{Body: `{"kind":"bytes"}`})
	mustEqual(t, "bytes", string(r.Body), "raw\x00bytes")
	mustEqual(t, "bytes content type", r.Header.Get("Content-Type"), "application/unknown")

	r = api.invoke(t, p, invocation{Body: `{not json`})
	mustEqual(t, "unmarshal", r.json(t)["errorType"], "Runtime.UnmarshalError")

	r = api.invoke(t, p, invocation{Headers: map[string]string{"Lambda-Runtime-Client-Context": "{bad"}})
	mustEqual(t, "bad client context", r.json(t)["errorType"], "Runtime.LambdaContextUnmarshalError")
}

func TestPythonInitErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		handler   string
		files     map[string]string
		errorType string
		message   string // exact, or a regexp when it starts with ^
		trace     string // regexp the joined stack trace must match; "" for empty
	}{
		{"no module", "lambda_function.handler", nil, "Runtime.ImportModuleError",
			"Unable to import module 'lambda_function': No module named 'lambda_function'", ""},
		{"missing dependency", "lambda_function.handler", map[string]string{"lambda_function.py": "import requests_not_installed\n"},
			"Runtime.ImportModuleError", "Unable to import module 'lambda_function': No module named 'requests_not_installed'", ""},
		{"missing handler", "lambda_function.nope", map[string]string{"lambda_function.py": "def handler(e, c):\n    return 1\n"},
			"Runtime.HandlerNotFound", "Handler 'nope' missing on module 'lambda_function'", ""},
		{"syntax error", "lambda_function.handler", map[string]string{"lambda_function.py": "def handler(event, context)\n    return 1\n"},
			"Runtime.UserCodeSyntaxError", `^Syntax error in module 'lambda_function': expected ':' \(lambda_function.py, line 1\)$`,
			`^  File "[^"]+/lambda_function.py" Line 1\n    def handler\(event, context\)\n$`},
		{"exception at module scope", "lambda_function.handler", map[string]string{"lambda_function.py": "raise RuntimeError('bad config')\n"},
			"RuntimeError", "bad config", `File "[^"]+/lambda_function.py", line 1, in <module>\n    raise RuntimeError\('bad config'\)\n$`},
		{"malformed handler", "nodot", nil, "Runtime.MalformedHandlerName",
			"Bad handler 'nodot': not enough values to unpack (expected 2, got 1)", ""},
		{"built-in module", "sys.handler", nil, "Runtime.BuiltInModuleConflict",
			"Cannot use built-in module sys as a handler module", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bothModes(t, func(t *testing.T, source bool) {
				api := newFakeAPI(t)
				p := start(t, api, fn{runtime: pyRuntime, handler: tc.handler, files: tc.files, source: source})
				r := api.initError(t, p)
				got := r.json(t)
				mustEqual(t, "errorType", got["errorType"], tc.errorType)
				mustEqual(t, "requestId", got["requestId"], "")
				msg, _ := got["errorMessage"].(string)
				if strings.HasPrefix(tc.message, "^") {
					if !regexp.MustCompile(tc.message).MatchString(msg) {
						t.Errorf("errorMessage = %q, want match %q", msg, tc.message)
					}
				} else {
					mustEqual(t, "errorMessage", msg, tc.message)
				}
				var trace []string
				for _, s := range got["stackTrace"].([]any) {
					trace = append(trace, s.(string))
				}
				if tc.trace == "" {
					mustEqual(t, "stackTrace", len(trace), 0)
				} else if !regexp.MustCompile(tc.trace).MatchString(strings.Join(trace, "")) {
					t.Errorf("stackTrace = %q, want match %q", trace, tc.trace)
				}
				mustEqual(t, "error type header", r.Header.Get("Lambda-Runtime-Function-Error-Type"), tc.errorType)
				mustEqual(t, "exit code", p.exitCode(t), 1)
			})
		})
	}
}

func TestPythonStateAndLogs(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: pyRuntime, handler: "app.handler", files: map[string]string{
		"app.py": `import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("init print")
count = 0

def handler(event, context):
    global count
    count += 1
    print("hello from invocation", count)
    print("no newline yet", end="")
    logger.info("info %d", count)
    logger.debug("hidden")
    return count
`,
	}})
	for want := 1; want <= 3; want++ {
		id := newID()
		r := api.invoke(t, p, invocation{ID: id})
		mustEqual(t, "count", string(r.Body), strconv.Itoa(want))
		p.waitOutput(t, false, fmt.Sprintf("hello from invocation %d\n", want))
		p.waitOutput(t, false, fmt.Sprintf(`\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t%s\tinfo %d\n`, id, want))
	}
	p.waitOutput(t, false, "^init print\n")
	p.waitOutput(t, false, "no newline yet")
	if strings.Contains(p.stdout.String(), "hidden") {
		t.Error("a debug line was logged at level INFO")
	}
	// The function asked for python3.12; the host's Python may differ, and says so.
	if v, _ := InterpreterVersion(pyRuntime); !strings.HasPrefix(v, "3.12.") {
		p.waitOutput(t, true, `^Hearth: python3\.12 requested; running on Python `+regexp.QuoteMeta(v)+` \(the host's interpreter\)\n`)
	}
}

func TestPythonJSONLogs(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: pyRuntime, handler: "app.handler", env: []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=DEBUG"}, files: map[string]string{
		"app.py": `import logging
logger = logging.getLogger("app")

def handler(event, context):
    logger.debug("dbg %s", "arg", extra={"k": "v"})
    raise KeyError("missing")
`,
	}})
	id := newID()
	r := api.invoke(t, p, invocation{ID: id})
	mustEqual(t, "errorType", r.json(t)["errorType"], "KeyError")
	line := p.waitOutput(t, false, `\{"timestamp": "[^"]+", "level": "DEBUG"[^\n]*\n`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	delete(rec, "timestamp")
	mustEqual(t, "log record", rec, map[string]any{"level": "DEBUG", "message": "dbg arg", "logger": "app", "requestId": id, "k": "v"})
	line = p.waitOutput(t, false, `\{"timestamp": "[^"]+", "level": "ERROR"[^\n]*\n`)
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("error line %q: %v", line, err)
	}
	mustEqual(t, "error record", []any{rec["errorType"], rec["errorMessage"], rec["requestId"]}, []any{"KeyError", "'missing'", id})
}

func TestPythonModulePaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		handler string
		files   map[string]string
	}{
		// A path: src/app is imported as the module src.app, as awslambdaric does.
		{"src/app.handler", map[string]string{"src/app.py": "from . import helper\ndef handler(e, c):\n    return __name__ + ' ' + helper.X\n", "src/helper.py": "X = 'helped'\n"}},
		// A dotted module in a package.
		{"pkg.mod.handler", map[string]string{"pkg/__init__.py": "", "pkg/mod.py": "def handler(e, c):\n    return __name__\n"}},
	} {
		t.Run(tc.handler, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			p := start(t, api, fn{runtime: pyRuntime, handler: tc.handler, files: tc.files})
			r := api.invoke(t, p, invocation{})
			if r.Kind != "response" {
				t.Fatalf("%s: %s", r.Kind, r.Body)
			}
			want := map[string]string{"src/app.handler": `"src.app helped"`, "pkg.mod.handler": `"pkg.mod"`}[tc.handler]
			mustEqual(t, "body", string(r.Body), want)
		})
	}
}

// ---------------------------------------------------------------------------
// Node.js.

const nodeRuntime = "nodejs22.x"

func TestNodeEchoAndModuleKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler string
		files   map[string]string
	}{
		{"commonjs .js", "index.handler", map[string]string{"index.js": "exports.handler = async (event) => ({ kind: 'cjs', event });\n"}},
		{"esm .mjs", "index.handler", map[string]string{"index.mjs": "export const handler = async (event) => ({ kind: 'esm', event });\n"}},
		{"package.json type module", "index.handler", map[string]string{
			"package.json": `{"type":"module"}`,
			"index.js":     "import { kind } from './lib.js';\nexport async function handler(event) { return { kind, event }; }\n",
			"lib.js":       "export const kind = 'esm-js';\n",
		}},
		{".cjs", "index.handler", map[string]string{"index.cjs": "module.exports.handler = async (event) => ({ kind: 'cjs2', event });\n"}},
		{"js before mjs", "index.handler", map[string]string{
			"index.js":  "exports.handler = async (event) => ({ kind: 'js', event });\n",
			"index.mjs": "export const handler = async (event) => ({ kind: 'mjs', event });\n",
		}},
		{"directory and nested export", "src/app.a.b", map[string]string{"src/app.js": "exports.a = { b: async (event) => ({ kind: 'nested', event }) };\n"}},
		{"node_modules", "mod.handler", map[string]string{"node_modules/mod/index.js": "exports.handler = async (event) => ({ kind: 'node_modules', event });\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			p := start(t, api, fn{runtime: nodeRuntime, handler: tc.handler, files: tc.files})
			r := api.invoke(t, p, invocation{Body: `{"x":[1,"ü"]}`})
			if r.Kind != "response" {
				t.Fatalf("%s: %s", r.Kind, r.Body)
			}
			kind := map[string]string{"commonjs .js": "cjs", "esm .mjs": "esm", "package.json type module": "esm-js", ".cjs": "cjs2",
				"js before mjs": "js", "directory and nested export": "nested", "node_modules": "node_modules"}[tc.name]
			mustEqual(t, "body", r.json(t), map[string]any{"kind": kind, "event": map[string]any{"x": []any{1.0, "ü"}}})
		})
	}
}

func TestNodeContext(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{
		"index.js": `exports.handler = async (event, context) => {
  const before = context.callbackWaitsForEmptyEventLoop;
  context.callbackWaitsForEmptyEventLoop = false;
  return {
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext ?? 'undefined',
    identity: context.identity ?? 'undefined',
    waits: [before, context.callbackWaitsForEmptyEventLoop],
    legacy: [typeof context.done, typeof context.succeed, typeof context.fail],
    trace: process.env._X_AMZN_TRACE_ID ?? 'undefined',
    cwd: process.cwd(),
  };
};
`,
	}})
	taskDir := p.taskDir
	id := newID()
	r := api.invoke(t, p, invocation{ID: id, Headers: map[string]string{
		"Lambda-Runtime-Client-Context":   `{"client":{"installation_id":"inst-1"},"custom":{"k":"v"},"env":{"platform":"test"}}`,
		"Lambda-Runtime-Cognito-Identity": `{"cognitoIdentityId":"us-east-1:123","cognitoIdentityPoolId":"us-east-1:pool"}`,
	}})
	if r.Kind != "response" {
		t.Fatalf("%s: %s", r.Kind, r.Body)
	}
	got := r.json(t)
	remaining := got["remaining"].(float64)
	if remaining <= 0 || remaining > 30000 {
		t.Errorf("remaining = %v, want in (0, 30000]", remaining)
	}
	delete(got, "remaining")
	mustEqual(t, "context", got, map[string]any{
		"awsRequestId":       id,
		"functionName":       "fn",
		"functionVersion":    "$LATEST",
		"invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
		"memoryLimitInMB":    "256",
		"logGroupName":       "/aws/lambda/fn",
		"logStreamName":      "2026/01/01/[$LATEST]0123456789abcdef",
		"clientContext":      map[string]any{"client": map[string]any{"installation_id": "inst-1"}, "custom": map[string]any{"k": "v"}, "env": map[string]any{"platform": "test"}},
		"identity":           map[string]any{"cognitoIdentityId": "us-east-1:123", "cognitoIdentityPoolId": "us-east-1:pool"},
		"waits":              []any{true, false},
		"legacy":             []any{"function", "function", "function"},
		"trace":              "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		"cwd":                taskDir,
	})

	r = api.invoke(t, p, invocation{Headers: map[string]string{"Lambda-Runtime-Trace-Id": ""}})
	got = r.json(t)
	mustEqual(t, "clientContext", got["clientContext"], "undefined")
	mustEqual(t, "identity", got["identity"], "undefined")
	mustEqual(t, "trace", got["trace"], "undefined")
}

func TestNodeCallbacks(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{
		"index.js": `let count = 0;
exports.handler = (event, context, callback) => {
  count++;
  switch (event.mode) {
    case 'wait':
      // The response waits for this timer: the event loop must be empty first.
      setTimeout(() => { count += 100; }, 500);
      return callback(null, { count });
    case 'nowait':
      context.callbackWaitsForEmptyEventLoop = false;
      setTimeout(() => {}, 2000);
      return callback(null, { count });
    case 'error':
      return callback(new RangeError('out of range'));
    case 'string-error':
      return callback('plain string');
    case 'succeed':
      return context.succeed({ via: 'succeed' });
    case 'done':
      return context.done(null, { via: 'done' });
    case 'fail':
      return context.fail(new Error('failed'));
    case 'twice':
      callback(null, 'first');
      return callback(null, 'second');
    case 'nothing':
      return 42; // a non-async handler's return value is ignored; no callback means null
    case 'count':
      return callback(null, count);
  }
};
`,
	}})

	start := time.Now()
	r := api.invoke(t, p, invocation{Body: `{"mode":"wait"}`})
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("callback response came after %v, before the event loop was empty", d)
	}
	mustEqual(t, "wait", string(r.Body), `{"count":1}`)

	start = time.Now()
	r = api.invoke(t, p, invocation{Body: `{"mode":"nowait"}`})
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("callbackWaitsForEmptyEventLoop=false response came after %v", d)
	}
	mustEqual(t, "nowait", string(r.Body), `{"count":102}`)

	r = api.invoke(t, p, invocation{Body: `{"mode":"error"}`})
	got := r.json(t)
	mustEqual(t, "errorType", got["errorType"], "RangeError")
	mustEqual(t, "errorMessage", got["errorMessage"], "out of range")
	trace := got["trace"].([]any)
	mustEqual(t, "trace[0]", trace[0], "RangeError: out of range")
	if !strings.Contains(trace[1].(string), "/index.js:") {
		t.Errorf("trace[1] = %q, want a frame in index.js", trace[1])
	}
	mustEqual(t, "error type header", r.Header.Get("Lambda-Runtime-Function-Error-Type"), "RangeError")
	p.waitOutput(t, false, `\tERROR\tInvoke Error \t\{"errorType":"RangeError","errorMessage":"out of range","stack":\["RangeError: out of range",`)

	r = api.invoke(t, p, invocation{Body: `{"mode":"string-error"}`})
	mustEqual(t, "string error", r.json(t), map[string]any{"errorType": "string", "errorMessage": "plain string", "trace": []any{}})

	for mode, want := range map[string]string{"succeed": `{"via":"succeed"}`, "done": `{"via":"done"}`, "twice": `"first"`, "nothing": "null"} {
		r = api.invoke(t, p, invocation{Body: `{"mode":"` + mode + `"}`})
		mustEqual(t, mode, r.Kind+" "+string(r.Body), "response "+want)
	}
	r = api.invoke(t, p, invocation{Body: `{"mode":"fail"}`})
	mustEqual(t, "fail", r.json(t)["errorMessage"], "failed")

	// Module state survived every invocation above.
	r = api.invoke(t, p, invocation{Body: `{"mode":"count"}`})
	mustEqual(t, "count", string(r.Body), "110")
}

func TestNodeAsync(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{
		"index.mjs": `let count = 0;
console.log('init log');
export const handler = async (event, context) => {
  count++;
  console.log('invocation', count, { nested: true });
  console.error('multi\nline');
  switch (event.mode) {
    case 'throw': {
      const e = new TypeError('bad input');
      e.code = 'E_BAD';
      throw e;
    }
    case 'bigint': return { n: 1n };
    case 'circular': { const o = {}; o.o = o; return o; }
    case 'undefined': return undefined;
    case 'never': return new Promise(() => {});
    default: return { count };
  }
};
`,
	}})
	for want := 1; want <= 3; want++ {
		id := newID()
		r := api.invoke(t, p, invocation{ID: id})
		mustEqual(t, "count", string(r.Body), fmt.Sprintf(`{"count":%d}`, want))
		p.waitOutput(t, false, fmt.Sprintf(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t%s\tINFO\tinvocation %d \{ nested: true \}\n`, id, want))
		p.waitOutput(t, false, fmt.Sprintf(`\t%s\tERROR\tmulti\rline\n`, id))
	}
	p.waitOutput(t, false, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\tundefined\tINFO\tinit log\n`)

	r := api.invoke(t, p, invocation{Body: `{"mode":"throw"}`})
	got := r.json(t)
	mustEqual(t, "errorType", got["errorType"], "TypeError")
	mustEqual(t, "errorMessage", got["errorMessage"], "bad input")
	mustEqual(t, "trace[0]", got["trace"].([]any)[0], "TypeError: bad input")

	for _, mode := range []string{"bigint", "circular"} {
		r = api.invoke(t, p, invocation{Body: `{"mode":"` + mode + `"}`})
		mustEqual(t, mode+" kind", r.Kind, "error")
		got = r.json(t)
		mustEqual(t, mode, []any{got["errorType"], got["errorMessage"]}, []any{"Error", "Unable to stringify response body"})
	}
	r = api.invoke(t, p, invocation{Body: `{"mode":"undefined"}`})
	mustEqual(t, "undefined", string(r.Body), "null")

	// A promise that can never settle once the event loop is empty.
	r = api.invoke(t, p, invocation{Body: `{"mode":"never"}`})
	mustEqual(t, "never", r.json(t)["errorType"], "Runtime.NodeJsExit")
	r = api.invoke(t, p, invocation{})
	mustEqual(t, "after never", string(r.Body), `{"count":9}`)

	if v, _ := InterpreterVersion(nodeRuntime); !strings.HasPrefix(v, "22.") {
		p.waitOutput(t, true, `^Hearth: nodejs22\.x requested; running on Node\.js v`+regexp.QuoteMeta(v)+` \(the host's interpreter\)\n`)
	}
}

func TestNodeJSONLogsAndLevel(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: nodeRuntime, handler: "index.handler", env: []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=WARN"}, files: map[string]string{
		"index.js": `exports.handler = async () => {
  console.info('hidden');
  console.warn('careful', { a: 1 });
  console.error(new Error('logged'));
  return 1;
};
`,
	}})
	id := newID()
	api.invoke(t, p, invocation{ID: id})
	line := p.waitOutput(t, false, `\{"timestamp":"[^"]+","level":"WARN"[^\n]*\n`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	delete(rec, "timestamp")
	mustEqual(t, "warn record", rec, map[string]any{"level": "WARN", "requestId": id, "message": "careful { a: 1 }"})
	line = p.waitOutput(t, false, `\{"timestamp":"[^"]+","level":"ERROR"[^\n]*\n`)
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	msg, _ := rec["message"].(map[string]any)
	mustEqual(t, "error record", []any{msg["errorType"], msg["errorMessage"]}, []any{"Error", "logged"})
	if strings.Contains(p.stdout.String(), "hidden") {
		t.Error("console.info printed at level WARN")
	}
}

func TestNodeUnhandledRejection(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{
		"index.js": `exports.handler = async () => {
  Promise.reject(new Error('later'));
  await new Promise((r) => setTimeout(r, 1000));
  return 'too late';
};
`,
	}})
	r := api.invoke(t, p, invocation{})
	got := r.json(t)
	mustEqual(t, "error", []any{r.Kind, got["errorType"], got["errorMessage"]}, []any{"error", "Runtime.UnhandledPromiseRejection", "Error: later"})
	mustEqual(t, "exit code", p.exitCode(t), 128)
}

func TestNodeStreaming(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := start(t, api, fn{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{
		"index.mjs": `export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.setContentType('text/plain');
  responseStream.write('hello ');
  await new Promise((r) => setTimeout(r, 10));
  responseStream.write(context.functionName);
  responseStream.end();
});
`,
	}})
	r := api.invoke(t, p, invocation{})
	mustEqual(t, "streamed", r.Kind+" "+r.Header.Get("Content-Type")+" "+string(r.Body), "response text/plain hello fn")
}

func TestNodeInitErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		handler   string
		files     map[string]string
		errorType string
		message   string // a regexp
	}{
		{"no module", "index.handler", nil, "Runtime.ImportModuleError", `^Error: Cannot find module 'index'\nRequire stack:\n- .*/index\.mjs$`},
		{"missing dependency", "index.handler", map[string]string{"index.js": "require('not-installed');\n"},
			"Runtime.ImportModuleError", `^Error: Cannot find module 'not-installed'\nRequire stack:\n- .*/index\.js\n- .*/index\.mjs$`},
		{"missing handler", "index.nope", map[string]string{"index.js": "exports.handler = async () => 1;\n"},
			"Runtime.HandlerNotFound", `^index\.nope is undefined or not exported$`},
		{"not a function", "index.x", map[string]string{"index.mjs": "export const x = 1;\n"},
			"Runtime.HandlerNotFound", `^index\.x is not a function$`},
		{"syntax error cjs", "index.handler", map[string]string{"index.js": "exports.handler = async () => {;\n"},
			"Runtime.UserCodeSyntaxError", `^SyntaxError: `},
		{"syntax error esm", "index.handler", map[string]string{"index.mjs": "export const handler = ;\n"},
			"Runtime.UserCodeSyntaxError", `^SyntaxError: `},
		{"throw at module scope", "index.handler", map[string]string{"index.js": "throw new Error('bad config');\n"},
			"Error", `^bad config$`},
		{"top-level await rejects", "index.handler", map[string]string{"index.mjs": "await Promise.reject(new TypeError('no config'));\nexport const handler = 1;\n"},
			"TypeError", `^no config$`},
		{"malformed handler", "nodot", nil, "Runtime.MalformedHandlerName", `^Bad handler$`},
		{"relative path", "../x.handler", nil, "Runtime.MalformedHandlerName", `^'\.\./x\.handler' is not a valid handler name\. Use absolute paths when specifying root directories in handler names\.$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			p := start(t, api, fn{runtime: nodeRuntime, handler: tc.handler, files: tc.files})
			r := api.initError(t, p)
			got := r.json(t)
			mustEqual(t, "errorType", got["errorType"], tc.errorType)
			if msg, _ := got["errorMessage"].(string); !regexp.MustCompile(tc.message).MatchString(msg) {
				t.Errorf("errorMessage = %q, want match %q", msg, tc.message)
			}
			if trace, _ := got["trace"].([]any); len(trace) == 0 {
				t.Errorf("trace is empty: %s", r.Body)
			}
			mustEqual(t, "error type header", r.Header.Get("Lambda-Runtime-Function-Error-Type"), tc.errorType)
			mustEqual(t, "exit code", p.exitCode(t), 129)
			p.waitOutput(t, false, `\tundefined\tERROR\tUncaught Exception \t\{"errorType":"`+regexp.QuoteMeta(tc.errorType)+`"`)
		})
	}
}

// ---------------------------------------------------------------------------
// Both clients' HTTP code against the ways a server may answer.

func TestClientTransport(t *testing.T) {
	t.Parallel()
	for _, f := range []fn{
		{runtime: pyRuntime, handler: "lambda_function.handler", files: map[string]string{"lambda_function.py": "def handler(event, context):\n    return event\n"}},
		{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{"index.js": "exports.handler = async (event) => event;\n"}},
	} {
		for name, tr := range map[string]transport{
			"chunked":            {chunked: true},
			"connection close":   {connClose: true},
			"dropped keep-alive": {dropAfterPost: true},
		} {
			t.Run(f.runtime+"/"+name, func(t *testing.T) {
				t.Parallel()
				api := newFakeAPIWith(t, tr)
				p := start(t, api, f)
				for i := range 3 {
					body := fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("ü", 100*i))
					r := api.invoke(t, p, invocation{Body: body})
					mustEqual(t, "echo", decode(t, r.Body), decode(t, []byte(body)))
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// Measurements: cold start (process start to the first GET next, and to the first
// response) and the warm round trip of one invocation through the fake API.

var echoFunctions = []fn{
	{runtime: "python3.12", handler: "lambda_function.handler", files: map[string]string{"lambda_function.py": "def handler(event, context):\n    return event\n"}},
	{runtime: "nodejs22.x", handler: "index.handler", files: map[string]string{"index.js": "exports.handler = async (event) => event;\n"}},
	{runtime: "nodejs22.x", handler: "index.handler", files: map[string]string{"index.mjs": "export const handler = async (event) => event;\n"}},
}

func echoName(f fn) string {
	for name := range f.files {
		return f.runtime + "/" + name
	}
	return f.runtime
}

func BenchmarkWarmInvoke(b *testing.B) {
	for _, f := range echoFunctions {
		b.Run(echoName(f), func(b *testing.B) {
			api := newFakeAPI(b)
			p := start(b, api, f)
			api.invoke(b, p, invocation{})
			b.ResetTimer()
			for range b.N {
				api.invoke(b, p, invocation{Body: `{"k":"v"}`})
			}
		})
	}
}

func BenchmarkColdStart(b *testing.B) {
	for _, f := range echoFunctions {
		b.Run(echoName(f), func(b *testing.B) {
			for range b.N {
				api := newFakeAPI(b)
				p := start(b, api, f)
				api.invoke(b, p, invocation{})
				p.cmd.Process.Kill()
				<-p.done
			}
		})
	}
}
