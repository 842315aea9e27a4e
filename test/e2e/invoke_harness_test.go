package e2e

// The invoke path end to end: a real `hearth serve` per sandbox driver runs real
// functions (Python, Node and an aws-lambda-go binary built here) in real sandboxes.
// This file holds what the TestInvoke* tests share: the servers per driver, the
// functions' code, and an Invoke that returns every header the caller sees.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// invokeDrivers are the sandbox drivers the invoke tests run on, in order (gVisor
// first). HEARTH_E2E_DRIVERS=namespace (comma-separated) narrows the list.
func invokeDrivers() []string {
	if v := os.Getenv("HEARTH_E2E_DRIVERS"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"gvisor", "namespace"}
}

// forEachDriver runs f as one subtest per driver.
func forEachDriver(t *testing.T, f func(t *testing.T, driver string)) {
	t.Helper()
	for _, d := range invokeDrivers() {
		t.Run(d, func(t *testing.T) {
			requireSandboxHost(t, d)
			f(t, d)
		})
	}
}

// requireSandboxHost skips when the host cannot run the driver at all: both
// drivers need root (namespaces, cgroups, mounts; runsc without rootless mode).
func requireSandboxHost(t *testing.T, driver string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("the %s sandbox driver needs root (cgroups, namespaces, mounts); run the invoke e2e tests as root", driver)
	}
	if driver == "gvisor" {
		if _, err := os.Stat(runscBin); err != nil {
			t.Fatalf("runsc not found at %q (run make build, or set HEARTH_E2E_RUNSC): %v", runscBin, err)
		}
	}
}

// errNotYet is what an eventually condition returns while it waits.
var errNotYet = errors.New("not yet")

// ---------------------------------------------------------------------------
// Servers with a sandbox driver

var (
	sbxMu      sync.Mutex
	sbxServers = map[string]*server{}
	sbxErrs    = map[string]error{}
	sbxDirs    []string // temporary directories to remove at the end
)

// sandboxServer is the server (one per driver) that invoke tests share; they use
// unique function names. It writes its own credentials file (no HEARTH_* keys in
// its environment), so the isolation tests have a real credentials file to attack.
func sandboxServer(t testing.TB, driver string) *server {
	t.Helper()
	sbxMu.Lock()
	defer sbxMu.Unlock()
	if s, ok := sbxServers[driver]; ok {
		return s
	}
	if err, ok := sbxErrs[driver]; ok {
		t.Fatalf("start the shared %s hearth: %v", driver, err)
	}
	dir, err := os.MkdirTemp("", "hearth-e2e-"+driver+"-")
	if err != nil {
		t.Fatal(err)
	}
	sbxDirs = append(sbxDirs, dir)
	s, err := launch(serverOptions{dataDir: dir, sandbox: driver, noEnvCredentials: true})
	if err != nil {
		sbxErrs[driver] = err
		t.Fatalf("start the shared %s hearth: %v", driver, err)
	}
	sbxServers[driver] = s
	return s
}

// startSandboxServer starts a server of its own with the driver and extra flags;
// it is stopped when the test ends, and must leave no mount behind in its data
// directory.
func startSandboxServer(t testing.TB, driver string, extraArgs ...string) *server {
	t.Helper()
	return startSandboxServerWith(t, driver, func(o *serverOptions) { o.extraArgs = extraArgs })
}

// startSandboxServerWith is startSandboxServer with the options mod sets.
func startSandboxServerWith(t testing.TB, driver string, mod func(*serverOptions)) *server {
	t.Helper()
	dir := t.TempDir()
	// Cleanups run last-registered first: this one runs after the server stopped
	// (registered by startServer below) and before the directory is removed.
	t.Cleanup(func() {
		if left := mountsUnder(dir); len(left) > 0 {
			t.Errorf("hearth serve --sandbox %s stopped but left mounts in its data directory: %v", driver, left)
			unmountAll(left)
		}
	})
	opts := serverOptions{dataDir: dir, sandbox: driver}
	mod(&opts)
	return startServer(t, opts)
}

// mountsUnder lists the mount points at or below dir (from /proc/self/mountinfo).
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := strings.ReplaceAll(f[4], "\\040", " ")
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unmountAll detaches mounts a server left behind, so the test's directories can
// be removed; the test has already failed for it.
func unmountAll(mounts []string) {
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
}

// stopSandboxServers stops the shared sandbox servers (TestMain calls it) and
// turns an unclean stop into a failed run.
func stopSandboxServers(code int) int {
	sbxMu.Lock()
	defer sbxMu.Unlock()
	for d, s := range sbxServers {
		if err := s.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: the shared %s server did not shut down cleanly: %v\n%s\n", d, err, s.logs())
			if code == 0 {
				code = 1
			}
		}
		if left := mountsUnder(s.dataDir); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "e2e: the shared %s server stopped but left mounts in its data directory: %v\n", d, left)
			unmountAll(left)
			if code == 0 {
				code = 1
			}
		}
	}
	for _, dir := range sbxDirs {
		_ = os.RemoveAll(dir)
	}
	return code
}

// ---------------------------------------------------------------------------
// Functions' code

// fnKind is one of the test functions: a runtime, a handler and its code.
type fnKind struct {
	short   string // for names and messages
	runtime types.Runtime
	handler string
	zip     func(t testing.TB) []byte
	// errorAction makes the handler fail in its language's usual way.
	errorAction string
}

var (
	kindPython = fnKind{short: "py", runtime: types.RuntimePython312, handler: "lambda_function.lambda_handler",
		zip: pythonFnZip, errorAction: "raise"}
	kindNodeESM = fnKind{short: "mjs", runtime: types.RuntimeNodejs20x, handler: "index.handler",
		zip: func(t testing.TB) []byte { return testdataZip(t, "node/esm", nil) }, errorAction: "throw"}
	kindNodeCJS = fnKind{short: "cjs", runtime: types.RuntimeNodejs20x, handler: "app.handler",
		zip: func(t testing.TB) []byte { return testdataZip(t, "node/cjs", nil) }, errorAction: "fail"}
	kindGo = fnKind{short: "go", runtime: types.RuntimeProvidedal2023, handler: "bootstrap",
		zip: goFnZip, errorAction: "error"}
	allKinds = []fnKind{kindPython, kindNodeESM, kindNodeCJS, kindGo}
)

func testdataDir(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "test", "e2e", "testdata")
}

// testdataZip zips every file of testdata/DIR at the archive's top level, with
// extra files added (or replacing).
func testdataZip(t testing.TB, dir string, extra map[string]string) []byte {
	t.Helper()
	src := filepath.Join(testdataDir(t), dir)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	for k, v := range extra {
		files[k] = v
	}
	var zf []zipFile
	for k, v := range files {
		zf = append(zf, zipFile{Name: k, Body: v})
	}
	return makeZip(t, zf...)
}

func pythonFnZip(t testing.TB) []byte { return testdataZip(t, "python", nil) }

var (
	goFnOnce sync.Once
	goFnBin  []byte
	goFnErr  error
)

// goFnZip builds testdata/gofn (once) as a static linux binary named bootstrap and
// zips it with mode 0755, as one deploys a provided.al2023 function.
func goFnZip(t testing.TB) []byte {
	t.Helper()
	goFnOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hearth-e2e-gofn-")
		if err != nil {
			goFnErr = err
			return
		}
		defer os.RemoveAll(dir)
		root, err := moduleRoot()
		if err != nil {
			goFnErr = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out := filepath.Join(dir, "bootstrap")
		cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./test/e2e/testdata/gofn")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			goFnErr = fmt.Errorf("go build testdata/gofn: %v: %s", err, b)
			return
		}
		goFnBin, goFnErr = os.ReadFile(out)
	})
	if goFnErr != nil {
		t.Fatal(goFnErr)
	}
	return makeZip(t, zipFile{Name: "bootstrap", Body: string(goFnBin), Mode: 0o755})
}

// codeHex is the name of a zip's unpacked directory in a worker's code cache.
func codeHex(zip []byte) string {
	sum := sha256.Sum256(zip)
	return hex.EncodeToString(sum[:])
}

// deploy creates a function of kind k with a unique name and returns the name.
func deploy(t testing.TB, s *server, k fnKind, mod ...func(*lambda.CreateFunctionInput)) string {
	t.Helper()
	name := uniqueName("inv-" + k.short)
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      k.runtime,
		Handler:      aws.String(k.handler),
		Role:         aws.String(testRole),
		Code:         &types.FunctionCode{ZipFile: k.zip(t)},
		Timeout:      aws.Int32(10),
		MemorySize:   aws.Int32(128),
	}
	for _, m := range mod {
		m(in)
	}
	start := time.Now()
	out, err := s.client().CreateFunction(ctxT(t), in)
	if err != nil {
		t.Fatalf("CreateFunction %s (%s): %v", name, k.runtime, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("CreateFunction %s (%s, %d KB zip) took %v", name, k.runtime, len(in.Code.ZipFile)>>10, d)
	}
	if out.State != types.StateActive {
		waitActive(t, s, name)
	}
	return name
}

func waitActive(t testing.TB, s *server, name string) {
	t.Helper()
	eventually(t, 30*time.Second, name+" Active", func() error {
		c, err := s.client().GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			return err
		}
		if c.State != types.StateActive || c.LastUpdateStatus == types.LastUpdateStatusInProgress {
			return fmt.Errorf("state %s, last update %s", c.State, c.LastUpdateStatus)
		}
		return nil
	})
}

// ---------------------------------------------------------------------------
// Invoke, raw: every header the caller gets.

type invokeOpts struct {
	qualifier      string
	tail           bool
	invocationType string // "" = RequestResponse
	clientContext  string // base64 JSON for X-Amz-Client-Context
	body           []byte // sent as is, in place of the JSON of the payload
	timeout        time.Duration
}

type invokeResult struct {
	Status          int
	Header          http.Header
	Body            []byte
	RequestID       string // x-amzn-RequestId
	ExecutedVersion string
	FunctionError   string
	Log             string // X-Amz-Log-Result, decoded
	Elapsed         time.Duration
}

func (r invokeResult) String() string {
	body := string(r.Body)
	if len(body) > 600 {
		body = body[:600] + "…"
	}
	return fmt.Sprintf("status %d, executed version %q, function error %q, request id %q, body %s\nlog:\n%s",
		r.Status, r.ExecutedVersion, r.FunctionError, r.RequestID, body, r.Log)
}

// invokeE is Invoke over signed HTTP; it may run on any goroutine.
func (s *server) invokeE(name string, payload any, o invokeOpts) (invokeResult, error) {
	body := o.body
	if body == nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return invokeResult{}, err
		}
		body = b
	}
	u := s.url() + "/2015-03-31/functions/" + url.PathEscape(name) + "/invocations"
	if o.qualifier != "" {
		u += "?Qualifier=" + url.QueryEscape(o.qualifier)
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = callTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return invokeResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.tail {
		req.Header.Set("X-Amz-Log-Type", "Tail")
	}
	if o.invocationType != "" {
		req.Header.Set("X-Amz-Invocation-Type", o.invocationType)
	}
	if o.clientContext != "" {
		req.Header.Set("X-Amz-Client-Context", o.clientContext)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret},
		req, hex.EncodeToString(sum[:]), "lambda", region, time.Now()); err != nil {
		return invokeResult{}, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return invokeResult{}, fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return invokeResult{}, fmt.Errorf("POST %s: reading the body: %w", u, err)
	}
	r := invokeResult{
		Status:          resp.StatusCode,
		Header:          resp.Header,
		Body:            b,
		RequestID:       resp.Header.Get("X-Amzn-Requestid"),
		ExecutedVersion: resp.Header.Get("X-Amz-Executed-Version"),
		FunctionError:   resp.Header.Get("X-Amz-Function-Error"),
		Elapsed:         time.Since(start),
	}
	if lr := resp.Header.Get("X-Amz-Log-Result"); lr != "" {
		dec, err := base64.StdEncoding.DecodeString(lr)
		if err != nil {
			return r, fmt.Errorf("X-Amz-Log-Result is not base64: %v: %q", err, lr)
		}
		r.Log = string(dec)
	}
	return r, nil
}

func (s *server) invoke(t testing.TB, name string, payload any, o invokeOpts) invokeResult {
	t.Helper()
	r, err := s.invokeE(name, payload, o)
	if err != nil {
		t.Fatalf("invoke %s: %v", name, err)
	}
	return r
}

// invokeOK invokes and requires a 200 without a function error.
func (s *server) invokeOK(t testing.TB, name string, payload any, o invokeOpts) invokeResult {
	t.Helper()
	r := s.invoke(t, name, payload, o)
	if r.Status != http.StatusOK || r.FunctionError != "" {
		t.Fatalf("invoke %s %s: want 200 without a function error, got %s", name, jsonOf(t, payload), r)
	}
	return r
}

// decode unmarshals the body into v.
func (r invokeResult) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response body is not the JSON expected: %v: %s", err, r)
	}
}

// countOf is the "count" of a response: invocations seen by the env that answered.
func (r invokeResult) countOf(t testing.TB) int {
	t.Helper()
	var v struct {
		Count *int `json:"count"`
	}
	r.decode(t, &v)
	if v.Count == nil {
		t.Fatalf("response has no count: %s", r)
	}
	return *v.Count
}

// functionErrorDoc is Lambda's function error body.
type functionErrorDoc struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace"`
	Trace        []string `json:"trace"` // Node's name for it
}

// wantFunctionError checks a 200 with X-Amz-Function-Error: Unhandled and Lambda's
// error document; it returns the document.
func wantFunctionError(t testing.TB, r invokeResult) functionErrorDoc {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("a function error answers 200, got %s", r)
	}
	if r.FunctionError != "Unhandled" {
		t.Errorf("X-Amz-Function-Error = %q, want Unhandled (%s)", r.FunctionError, r)
	}
	var doc functionErrorDoc
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("the function error body is not JSON: %v: %s", err, r)
	}
	if doc.ErrorType == "" || doc.ErrorMessage == "" {
		t.Errorf("the function error body lacks errorType or errorMessage: %s", r.Body)
	}
	return doc
}

// ---------------------------------------------------------------------------
// The log lines of one invocation

type reportLine struct {
	RequestID    string
	Duration     float64
	Billed       int
	MemorySize   int
	MaxMemory    int
	InitDuration float64
	HasInit      bool
}

var reReport = regexp.MustCompile(`(?m)^REPORT RequestId: (\S+)\tDuration: ([0-9.]+) ms\tBilled Duration: ([0-9]+) ms\tMemory Size: ([0-9]+) MB\tMax Memory Used: ([0-9]+) MB\t(?:Init Duration: ([0-9.]+) ms\t)?`)

// checkInvocationLog checks START/END/REPORT of requestID in text (a Tail or the
// logs of a function) and returns the REPORT.
func checkInvocationLog(t testing.TB, text, requestID, version string, memoryMB int) reportLine {
	t.Helper()
	start := "START RequestId: " + requestID + " Version: " + version + "\n"
	end := "END RequestId: " + requestID + "\n"
	si, ei := strings.Index(text, start), strings.Index(text, end)
	if si < 0 {
		t.Errorf("log has no %q:\n%s", start, text)
	}
	if ei < 0 {
		t.Errorf("log has no %q:\n%s", end, text)
	}
	if si >= 0 && ei >= 0 && ei < si {
		t.Errorf("END comes before START:\n%s", text)
	}
	var rep reportLine
	for _, m := range reReport.FindAllStringSubmatch(text, -1) {
		if m[1] != requestID {
			continue
		}
		rep.RequestID = m[1]
		rep.Duration, _ = strconv.ParseFloat(m[2], 64)
		rep.Billed, _ = strconv.Atoi(m[3])
		rep.MemorySize, _ = strconv.Atoi(m[4])
		rep.MaxMemory, _ = strconv.Atoi(m[5])
		if m[6] != "" {
			rep.HasInit = true
			rep.InitDuration, _ = strconv.ParseFloat(m[6], 64)
		}
	}
	if rep.RequestID == "" {
		t.Fatalf("log has no REPORT line for %s in Lambda's format:\n%s", requestID, text)
	}
	if rep.Duration <= 0 || float64(rep.Billed) < rep.Duration || float64(rep.Billed) > rep.Duration+1 {
		t.Errorf("REPORT Duration %.2f ms, Billed Duration %d ms: want billed = ceil(duration) > 0", rep.Duration, rep.Billed)
	}
	if rep.MemorySize != memoryMB {
		t.Errorf("REPORT Memory Size = %d MB, want %d", rep.MemorySize, memoryMB)
	}
	if rep.MaxMemory <= 0 || rep.MaxMemory > memoryMB {
		t.Errorf("REPORT Max Memory Used = %d MB, want measured: > 0 and ≤ %d", rep.MaxMemory, memoryMB)
	}
	if rep.HasInit && rep.InitDuration <= 0 {
		t.Errorf("REPORT Init Duration = %.2f ms, want > 0", rep.InitDuration)
	}
	return rep
}

// functionLogs reads what GET /_hearth/logs/NAME has now (no follow).
func (s *server) functionLogs(t testing.TB, name string) string {
	t.Helper()
	r := s.raw(t, http.MethodGet, "/_hearth/logs/"+url.PathEscape(name), nil, rawOptions{})
	if r.Status != http.StatusOK {
		t.Fatalf("GET /_hearth/logs/%s: %d %s", name, r.Status, r.Body)
	}
	return string(r.Body)
}

// clientContextB64 is the X-Amz-Client-Context of a mobile SDK caller.
func clientContextB64(t testing.TB, custom map[string]string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"client": map[string]string{"installation_id": "inst-1", "app_title": "e2e", "app_version_name": "1.0",
			"app_version_code": "1", "app_package_name": "dev.hearth.e2e"},
		"custom": custom,
		"env":    map[string]string{"platform": "linux", "locale": "en_US"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// envProcesses lists the host processes of the execution environment whose log
// stream is logStream: Hearth names an env's sandbox (and its cgroup, under both
// drivers) "env-" + the first 20 characters of the env id that ends the log stream.
// A gVisor sandbox booted ahead keeps its own runsc ID ("spare-…", its cgroup's
// name); the file "env" in its bundle names the env it became.
func (s *server) envProcesses(logStream string) []int {
	i := strings.LastIndex(logStream, "]")
	if i < 0 || len(logStream)-i-1 < 20 {
		return nil
	}
	id := "env-" + logStream[i+1:i+21]
	needles := [][]byte{[]byte("/" + id)}
	// Remembered: the marker goes with the bundle when the env is killed, and its
	// processes must be found until they are gone.
	s.mu.Lock()
	if s.spareOf == nil {
		s.spareOf = map[string]string{}
	}
	if s.spareOf[id] == "" {
		markers, _ := filepath.Glob(filepath.Join(s.dataDir, "sandbox", "gvisor", "bundles", "*", "env"))
		for _, m := range markers {
			if b, err := os.ReadFile(m); err == nil && string(b) == id {
				s.spareOf[id] = filepath.Base(filepath.Dir(m))
			}
		}
	}
	if rid := s.spareOf[id]; rid != "" {
		needles = append(needles, []byte("/"+rid))
	}
	s.mu.Unlock()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// wantEnvGone requires that no host process of the env remains within d of its
// invocation's answer (only when the env's processes could be found before).
func (s *server) wantEnvGone(t testing.TB, logStream string, hadProcesses bool, d time.Duration) {
	t.Helper()
	if !hadProcesses {
		t.Logf("no host process of env %s was found while it lived; not checking that it is gone", logStream)
		return
	}
	deadline := time.Now().Add(d)
	for {
		left := s.envProcesses(logStream)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d host processes of the killed env %s are still there %v after the invocation answered (e.g. pid %d)",
				len(left), logStream, d, left[0])
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
