package agent_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
)

// These tests run the real hearth-init binary as a plain child process (no sandbox)
// and drive it over its stdin and stdout with agentproto, as the worker does.

var (
	testDir string

	buildInitOnce sync.Once
	initBin       string
	initBuildErr  error
)

func TestMain(m *testing.M) {
	var err error
	testDir, err = os.MkdirTemp("", "hearth-agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(testDir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// hearthInit builds cmd/hearth-init once per test run: static, as it ships, or with
// the race detector when the tests run with it.
func hearthInit(t testing.TB) string {
	t.Helper()
	buildInitOnce.Do(func() {
		initBin = filepath.Join(testDir, "hearth-init")
		args := []string{"build", "-o", initBin}
		env := append(os.Environ(), "CGO_ENABLED=0")
		if raceEnabled {
			args = append(args, "-race")
			env = append(os.Environ(), "CGO_ENABLED=1")
		}
		cmd := exec.Command(goTool(), append(args, "github.com/hearthfn/hearth/cmd/hearth-init")...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			initBuildErr = fmt.Errorf("go build hearth-init: %v\n%s", err, out)
		}
	})
	if initBuildErr != nil {
		t.Fatal(initBuildErr)
	}
	return initBin
}

// fnSource is a real Lambda function written with aws-lambda-go; the event's action
// picks what the handler does.
const fnSource = `package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// invocations lives in module scope: it survives across warm invocations.
var invocations int

type event struct {
	Action  string ` + "`json:\"action\"`" + `
	Message string ` + "`json:\"message\"`" + `
}

func main() {
	if ms, _ := strconv.Atoi(os.Getenv("INIT_SLEEP_MS")); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	fmt.Println("init: global scope ran")
	lambda.Start(handle)
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	invocations++
	lc, _ := lambdacontext.FromContext(ctx)
	var e event
	_ = json.Unmarshal(raw, &e)
	switch e.Action {
	case "log":
		fmt.Println("handling", lc.AwsRequestID)
		fmt.Fprintln(os.Stderr, "stderr line for", lc.AwsRequestID)
		fmt.Print("no newline for ", lc.AwsRequestID)
	case "count":
		return map[string]int{"invocations": invocations}, nil
	case "error":
		return nil, errors.New(e.Message)
	case "panic":
		panic(e.Message)
	case "exit":
		fmt.Println("exiting")
		os.Exit(2)
	case "context":
		deadline, _ := ctx.Deadline()
		return map[string]any{
			"requestId":     lc.AwsRequestID,
			"functionArn":   lc.InvokedFunctionArn,
			"deadlineMs":    deadline.UnixMilli(),
			"traceId":       os.Getenv("_X_AMZN_TRACE_ID"),
			"clientContext": lc.ClientContext,
			"identity":      lc.Identity,
		}, nil
	}
	return raw, nil
}
`

// minimalRuntimeSource is a runtime with the least client overhead possible: raw
// HTTP/1.1 on one keep-alive connection, echoing every event. Benchmarks use it to
// show hearth-init's share of a warm invocation apart from a runtime client's.
const minimalRuntimeSource = `package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"strconv"
)

func main() {
	c, err := net.Dial("tcp", os.Getenv("AWS_LAMBDA_RUNTIME_API"))
	if err != nil {
		panic(err)
	}
	br := bufio.NewReader(c)
	next := []byte("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n")
	var body, w []byte
	for {
		if _, err := c.Write(next); err != nil {
			return
		}
		id, n := readHead(br)
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		w = append(w[:0], "POST /2018-06-01/runtime/invocation/"...)
		w = append(w, id...)
		w = append(w, "/response HTTP/1.1\r\nHost: runtime\r\nContent-Length: "...)
		w = strconv.AppendInt(w, int64(n), 10)
		w = append(w, "\r\n\r\n"...)
		w = append(w, body...)
		if _, err := c.Write(w); err != nil {
			return
		}
		_, n = readHead(br)
		if _, err := br.Discard(n); err != nil {
			return
		}
	}
}

func readHead(br *bufio.Reader) (id string, n int) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			os.Exit(0)
		}
		if len(line) <= 2 {
			return id, n
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
		if v, ok := bytes.CutPrefix(line, []byte("Lambda-Runtime-Aws-Request-Id: ")); ok {
			id = string(bytes.TrimSpace(v))
		}
	}
}
`

var (
	buildsMu sync.Mutex
	builds   = map[string]string{}
)

// goFunction is the aws-lambda-go test function, built once.
func goFunction(t testing.TB) string {
	t.Helper()
	return buildModule(t, "module hearthtestfn\n\ngo 1.26\n\nrequire github.com/aws/aws-lambda-go v1.55.1\n", fnSource)
}

// minimalRuntime is minimalRuntimeSource, built once.
func minimalRuntime(t testing.TB) string {
	t.Helper()
	return buildModule(t, "module hearthtestrt\n\ngo 1.26\n", minimalRuntimeSource)
}

// buildModule builds a one-file program in a module of its own (aws-lambda-go is not
// a dependency of hearth) and caches the binary in os.TempDir() by a hash of its
// inputs, so only the first run anywhere pays for the module download and build.
func buildModule(t testing.TB, goMod, source string) string {
	t.Helper()
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", runtime.Version(), runtime.GOARCH, goMod, source)
	dir := filepath.Join(os.TempDir(), "hearth-agent-testbin-"+hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, "bootstrap")

	buildsMu.Lock()
	defer buildsMu.Unlock()
	if builds[bin] != "" {
		return bin
	}
	if _, err := os.Stat(bin); err == nil {
		builds[bin] = bin
		return bin
	}
	src := t.TempDir()
	for name, data := range map[string]string{"go.mod": goMod, "main.go": source} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	cmd := exec.Command(goTool(), "build", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building a test program: %v\n%s", err, out)
	}
	// Rename is atomic: concurrent test binaries never run a half-written file.
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	builds[bin] = bin
	return bin
}

// freeAddr picks a loopback port for the Runtime API.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type logLine struct {
	RequestID, Stream, Text string
}

// env is one running hearth-init and the worker's end of its stream.
type env struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *os.File
	br     *bufio.Reader
	ended  bool
	waited chan struct{}
	state  *os.ProcessState
	stderr lockedBuffer
	addr   string

	logs []logLine // Log frames seen so far, in order
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startEnv starts hearth-init and sends ini (RuntimeAPI defaults to a free port).
func startEnv(t testing.TB, ini agentproto.Init) *env {
	t.Helper()
	if ini.Version == 0 {
		ini.Version = agentproto.Version
	}
	if ini.RuntimeAPI == "" {
		ini.RuntimeAPI = freeAddr(t)
	}
	if ini.Dir == "" {
		ini.Dir = t.TempDir()
	}
	if ini.Env == nil {
		ini.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "AWS_LAMBDA_FUNCTION_NAME=test"}
	}
	e := startRaw(t)
	e.addr = ini.RuntimeAPI
	e.send(agentproto.KindInit, &ini, nil)
	return e
}

// startRaw starts hearth-init without sending anything.
func startRaw(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, waited: make(chan struct{})}
	e.cmd = exec.Command(hearthInit(t))
	// A race-enabled hearth-init would otherwise linger a second at exit.
	e.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 halt_on_error=1")
	e.cmd.Stderr = &e.stderr
	var err error
	if e.stdin, err = e.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	// The worker's end of stdout is read synchronously, with deadlines (an os.Pipe is
	// in the poller), so a benchmark measures hearth-init and not a hand-off here.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	e.cmd.Stdout = w
	e.stdout, e.br = r, bufio.NewReaderSize(r, 64<<10)
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		_ = e.cmd.Wait()
		e.state = e.cmd.ProcessState
		close(e.waited)
	}()
	t.Cleanup(func() {
		_ = e.stdin.Close()
		select {
		case <-e.waited:
		case <-time.After(5 * time.Second):
			_ = e.cmd.Process.Kill()
			<-e.waited
		}
		e.stdout.Close()
		if t.Failed() {
			t.Logf("hearth-init stderr:\n%s", e.stderr.String())
		}
	})
	return e
}

func (e *env) send(kind agentproto.Kind, header any, body []byte) {
	e.t.Helper()
	if err := agentproto.Write(e.stdin, kind, header, body); err != nil {
		e.t.Fatalf("sending %s: %v", kind, err)
	}
}

// frame returns the next frame that is not a Log (Logs are collected in e.logs), or
// nil when the stream ended.
func (e *env) frame(timeout time.Duration) *agentproto.Frame {
	e.t.Helper()
	if e.ended {
		return nil
	}
	if err := e.stdout.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		e.t.Fatal(err)
	}
	for {
		f, err := agentproto.Read(e.br)
		switch {
		case errors.Is(err, io.EOF):
			e.ended = true
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			e.t.Fatalf("no frame within %v; stderr:\n%s", timeout, e.stderr.String())
		case err != nil:
			e.t.Fatalf("reading frames: %v", err)
		}
		if f.Kind == agentproto.KindLog {
			var l agentproto.Log
			if err := f.Decode(&l); err != nil {
				e.t.Fatal(err)
			}
			e.logs = append(e.logs, logLine{l.RequestID, l.Stream, string(f.Body)})
			continue
		}
		return f
	}
}

// expect returns the next non-Log frame, which must be of kind, decoding its header into v.
func (e *env) expect(kind agentproto.Kind, v any) *agentproto.Frame {
	e.t.Helper()
	f := e.frame(10 * time.Second)
	if f == nil {
		e.t.Fatalf("stream ended, want %s; stderr:\n%s", kind, e.stderr.String())
	}
	if f.Kind != kind {
		e.t.Fatalf("got %s frame (%s %q), want %s", f.Kind, f.Header, f.Body, kind)
	}
	if v != nil {
		if err := f.Decode(v); err != nil {
			e.t.Fatal(err)
		}
	}
	return f
}

// invoke sends an Invoke and waits for its Result.
func (e *env) invoke(id string, payload string) (agentproto.Result, string) {
	e.t.Helper()
	e.send(agentproto.KindInvoke, &agentproto.Invoke{
		RequestID:   id,
		DeadlineMs:  time.Now().Add(time.Minute).UnixMilli(),
		FunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:test",
	}, []byte(payload))
	var res agentproto.Result
	f := e.expect(agentproto.KindResult, &res)
	if res.RequestID != id {
		e.t.Fatalf("Result for %q, want %q", res.RequestID, id)
	}
	return res, string(f.Body)
}

// end waits for the stream to end and hearth-init to exit, and returns its exit code.
func (e *env) end(timeout time.Duration) int {
	e.t.Helper()
	if f := e.frame(timeout); f != nil {
		e.t.Fatalf("unexpected %s frame (%s %q) before the end", f.Kind, f.Header, f.Body)
	}
	select {
	case <-e.waited:
	case <-time.After(timeout):
		e.t.Fatalf("hearth-init did not exit within %v", timeout)
	}
	return e.state.ExitCode()
}

func (e *env) logsFor(requestID string) []logLine {
	var out []logLine
	for _, l := range e.logs {
		if l.RequestID == requestID {
			out = append(out, l)
		}
	}
	return out
}

func (e *env) logText() string {
	var b strings.Builder
	for _, l := range e.logs {
		fmt.Fprintf(&b, "[%s %s] %q\n", l.RequestID, l.Stream, l.Text)
	}
	return b.String()
}

// children lists hearth-init's live and zombie children from /proc.
func (e *env) children() []string {
	// A child is listed under the thread that forked it.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", e.cmd.Process.Pid))
	var out []string
	for _, p := range tasks {
		b, _ := os.ReadFile(p)
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

func procState(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func killPid(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
