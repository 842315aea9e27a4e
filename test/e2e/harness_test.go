// Package e2e drives a real `hearth serve` process through aws-sdk-go-v2, exactly as
// the AWS CLI, SDKs and Terraform would: nothing is mocked. TestMain builds the binary
// once; tests share one server where they only need unique function names, and start
// their own where they need a server to themselves (durability, external NATS, the
// credentials file, account-wide numbers).
package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

const (
	region    = "us-east-1"
	accountID = "000000000000"
	testRole  = "arn:aws:iam::000000000000:role/hearth-e2e"

	// Credentials handed to the servers through the environment.
	accessKeyID     = "AKIAHEARTHE2ETESTKEY"
	secretAccessKey = "hearth-e2e-secret-access-key-0123456789ab"

	startTimeout = 60 * time.Second
	stopTimeout  = 20 * time.Second
	callTimeout  = 60 * time.Second
)

var (
	hearthBin  string // built once by TestMain
	hearthInit string // the static hearth-init, built once by TestMain (servers with a sandbox)
	runscBin   string // gVisor's runsc: HEARTH_E2E_RUNSC, else bin/runsc of the repository

	sharedOnce sync.Once
	sharedSrv  *server
	sharedErr  error
	sharedDir  string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "hearth-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// HEARTH_E2E_BIN runs the suite against a binary built elsewhere.
	if hearthBin = os.Getenv("HEARTH_E2E_BIN"); hearthBin == "" {
		hearthBin = filepath.Join(tmp, "hearth")
		if err := buildHearth(hearthBin); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building hearth:", err)
			return 1
		}
	}
	// HEARTH_E2E_INIT runs the sandboxed tests with a hearth-init built elsewhere.
	if hearthInit = os.Getenv("HEARTH_E2E_INIT"); hearthInit == "" {
		hearthInit = filepath.Join(tmp, "hearth-init")
		if err := buildHearthInit(hearthInit); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building hearth-init:", err)
			return 1
		}
		linkBundledSDK(tmp) // hearth serve finds the SDKs next to hearth-init
	}
	if runscBin = os.Getenv("HEARTH_E2E_RUNSC"); runscBin == "" {
		if root, err := moduleRoot(); err == nil {
			runscBin = filepath.Join(root, "bin", "runsc")
		}
	}
	sharedDir = filepath.Join(tmp, "shared-data")
	code := m.Run()
	code = stopSandboxServers(code)
	if sharedSrv != nil {
		if err := sharedSrv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: the shared server did not shut down cleanly:", err)
			fmt.Fprintln(os.Stderr, sharedSrv.logs())
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// buildHearth builds ./cmd/hearth. Under -race the server is built with the race
// detector too, so a data race in the server fails the suite (its stderr is checked
// for "WARNING: DATA RACE" when it stops). HEARTH_E2E_SERVER_RACE=0 turns that off.
func buildHearth(out string) error {
	return buildHearthRace(out, raceEnabled && os.Getenv("HEARTH_E2E_SERVER_RACE") != "0")
}

// buildHearthRace builds cmd/hearth, with the race detector or without.
func buildHearthRace(out string, race bool) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/hearth")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, b)
	}
	return nil
}

// buildHearthInit builds ./cmd/hearth-init static, as `make build` does: it runs as
// PID 1 inside sandboxes that have no host libraries to link against.
func buildHearthInit(out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "./cmd/hearth-init")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, b)
	}
	return nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// ---------------------------------------------------------------------------
// Servers

// serverOptions configures one `hearth serve`.
type serverOptions struct {
	dataDir string
	natsURL string
	// noEnvCredentials starts the server without HEARTH_ACCESS_KEY_ID/SECRET, so it
	// uses (and on first start writes) DATA/credentials.
	noEnvCredentials bool
	extraArgs        []string
	extraEnv         []string
	// sandbox is the --sandbox driver ("" = none: the control plane only). With a
	// driver the server gets --init (the hearth-init TestMain built) and --runsc.
	sandbox string
	// binary is the hearth to run ("" = the one TestMain built).
	binary string
}

// server is one running `hearth serve` process.
type server struct {
	cmd     *exec.Cmd
	addr    string // host:port
	dataDir string
	keyID   string
	secret  string

	mu      sync.Mutex
	stderr  bytes.Buffer
	done    chan struct{} // closed when the process has exited
	waitErr error
	stopped bool
	killed  bool
	spareOf map[string]string // env sandbox ID → the runsc ID of the pre-booted gVisor sandbox it took
}

var reServing = regexp.MustCompile(`Hearth is serving the Lambda API on http://(\S+) `)

// startServer starts a server; it is stopped (SIGTERM, and an exit status of 0 is
// required) when the test ends.
func startServer(t testing.TB, opts serverOptions) *server {
	t.Helper()
	if opts.dataDir == "" {
		opts.dataDir = t.TempDir()
	}
	s, err := launch(opts)
	if err != nil {
		t.Fatalf("start hearth: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("hearth did not shut down cleanly: %v\n%s", err, s.logs())
		}
	})
	return s
}

// sharedServer is the server that read-mostly tests share; they use unique names.
func sharedServer(t testing.TB) *server {
	t.Helper()
	sharedOnce.Do(func() {
		sharedSrv, sharedErr = launch(serverOptions{dataDir: sharedDir})
	})
	if sharedErr != nil {
		t.Fatalf("start the shared hearth: %v", sharedErr)
	}
	return sharedSrv
}

var envSubnets atomic.Int64

// nextEnvSubnet is a /24 no other server of this test process has, in
// 10.214.0.0–10.217.255.0, starting where the process id points so that two test
// processes (a developer's and CI's) rarely pick the same.
func nextEnvSubnet() string {
	k := (int64(os.Getpid())*7 + envSubnets.Add(1)) % 1024
	return fmt.Sprintf("10.%d.%d.0/24", 214+k/256, k%256)
}

func launch(opts serverOptions) (*server, error) {
	// By default the control plane only: no sandbox driver, so Invoke is not
	// implemented and no runsc or hearth-init is needed.
	driver := opts.sandbox
	if driver == "" {
		driver = "none"
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data", opts.dataDir, "--sandbox", driver}
	if driver != "none" {
		args = append(args, "--init", hearthInit)
		if runscBin != "" {
			args = append(args, "--runsc", runscBin)
		}
	}
	if opts.natsURL != "" {
		args = append(args, "--nats", opts.natsURL)
	}
	args = append(args, opts.extraArgs...)
	if driver != "none" && !slices.Contains(opts.extraArgs, "--env-subnet") {
		// Servers run side by side: each gets a subnet of its own (a subnet the host
		// already routes is refused at start).
		args = append(args, "--env-subnet", nextEnvSubnet())
	}
	bin := hearthBin
	if opts.binary != "" {
		bin = opts.binary
	}
	cmd := exec.Command(bin, args...)
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HEARTH_ACCESS_KEY_ID=") || strings.HasPrefix(kv, "HEARTH_SECRET_ACCESS_KEY=") {
			continue
		}
		env = append(env, kv)
	}
	s := &server{cmd: cmd, dataDir: opts.dataDir, done: make(chan struct{})}
	if !opts.noEnvCredentials {
		env = append(env, "HEARTH_ACCESS_KEY_ID="+accessKeyID, "HEARTH_SECRET_ACCESS_KEY="+secretAccessKey)
		s.keyID, s.secret = accessKeyID, secretAccessKey
	}
	cmd.Env = append(env, opts.extraEnv...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addrc := make(chan string, 1)
	go func() {
		// Read every line (so the child never blocks on a full pipe), remember them,
		// and report the bound address once it is printed.
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if !sent {
				if m := reServing.FindStringSubmatch(line); m != nil {
					addrc <- m[1]
					sent = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(s.done)
	}()
	select {
	case s.addr = <-addrc:
	case <-s.done:
		return nil, fmt.Errorf("hearth exited before serving: %v\n%s", s.waitErr, s.logs())
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-s.done
		return nil, fmt.Errorf("hearth did not print its address within %s\n%s", startTimeout, s.logs())
	}
	if opts.noEnvCredentials {
		id, secret, err := readCredentialsFile(filepath.Join(opts.dataDir, "credentials"))
		if err != nil {
			_ = s.kill()
			return nil, err
		}
		s.keyID, s.secret = id, secret
	}
	// Serving was announced; /healthz must answer at once.
	if err := s.waitHealthy(10 * time.Second); err != nil {
		_ = s.kill()
		return nil, err
	}
	return s, nil
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

func (s *server) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url() + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /healthz: %s", resp.Status)
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("hearth at %s not healthy within %s: %v", s.addr, timeout, last)
}

// stop sends SIGTERM and waits; the process must exit with status 0 and without a
// data race report. A process already killed with kill() only gets reaped.
func (s *server) stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.stopped = true
	killed := s.killed
	s.mu.Unlock()
	if killed {
		<-s.done
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("no exit within %s of SIGTERM (killed)", stopTimeout)
	}
	s.mu.Lock()
	err := s.waitErr
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("exit after SIGTERM: %v", err)
	}
	if strings.Contains(s.logs(), "WARNING: DATA RACE") {
		return errors.New("the race detector reported a data race in hearth")
	}
	return nil
}

// kill is kill -9: no shutdown, no flush.
func (s *server) kill() error {
	s.mu.Lock()
	s.killed = true
	s.mu.Unlock()
	err := s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		return errors.New("process did not die after SIGKILL")
	}
	if strings.Contains(s.logs(), "WARNING: DATA RACE") {
		return errors.New("the race detector reported a data race in hearth")
	}
	return err
}

// readCredentialsFile reads the [hearth] profile of a shared-credentials file.
func readCredentialsFile(path string) (id, secret string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			in = line == "[hearth]"
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("%s has no complete [hearth] profile:\n%s", path, b)
	}
	return id, secret, nil
}

// ---------------------------------------------------------------------------
// Clients

// client returns an SDK client for s with retries off, so error tests see the first
// answer and run fast.
func (s *server) client() *lambda.Client {
	return s.clientWith(s.keyID, s.secret, aws.NopRetryer{})
}

// retryingClient retries throttles and transient errors as a real application would.
func (s *server) retryingClient() *lambda.Client {
	return s.clientWith(s.keyID, s.secret, nil)
}

func (s *server) clientWith(id, secret string, retryer aws.Retryer) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.url()),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, Source: "hearth-e2e"}, nil
		}),
		Retryer:    retryer,
		HTTPClient: awshttp.NewBuildableClient().WithTimeout(2 * callTimeout),
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// ---------------------------------------------------------------------------
// Raw signed HTTP, for requests the SDK cannot produce.

type rawOptions struct {
	unsigned    bool
	keyID       string // default: the server's
	secret      string // default: the server's
	signingTime time.Time
	header      http.Header
	sendBody    []byte // sent in place of the signed body
}

type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorDoc is Lambda's error body.
func (r rawResponse) errorDoc(t testing.TB) (typ, message string) {
	t.Helper()
	var doc struct {
		Type    string `json:"Type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, r.Body)
	}
	return doc.Type, doc.Message
}

func (s *server) raw(t testing.TB, method, path string, body []byte, o rawOptions) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, s.url()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range o.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if !o.unsigned {
		id, secret := s.keyID, s.secret
		if o.keyID != "" {
			id = o.keyID
		}
		if o.secret != "" {
			secret = o.secret
		}
		when := o.signingTime
		if when.IsZero() {
			when = time.Now()
		}
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), "lambda", region, when)
		if err != nil {
			t.Fatal(err)
		}
	}
	if o.sendBody != nil {
		req.Body = io.NopCloser(bytes.NewReader(o.sendBody))
		req.ContentLength = int64(len(o.sendBody))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// ---------------------------------------------------------------------------
// Assertions

// wantAPIError checks that err is the Lambda error code with the HTTP status, and
// that its message contains every fragment (case-insensitively).
func wantAPIError(t testing.TB, err error, code string, status int, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("got success, want %s (%d)", code, status)
		return
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("got %v (%T), want API error %s", err, err, code)
		return
	}
	if apiErr.ErrorCode() != code {
		t.Errorf("error code = %q, want %q (message %q)", apiErr.ErrorCode(), code, apiErr.ErrorMessage())
	}
	if got := httpStatus(err); got != status {
		t.Errorf("HTTP status = %d, want %d (%s: %s)", got, status, apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	msg := apiErr.ErrorMessage()
	if strings.TrimSpace(msg) == "" {
		t.Errorf("%s has an empty message", code)
	}
	for _, f := range fragments {
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(f)) {
			t.Errorf("%s message %q does not mention %q", code, msg, f)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.ServiceRequestID() == "" {
		t.Errorf("%s response has no x-amzn-RequestId", code)
	}
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// call runs one SDK operation and fails the test on an error.
func call[I, O any](t testing.TB, op func(context.Context, I, ...func(*lambda.Options)) (O, error), in I) O {
	t.Helper()
	out, err := op(ctxT(t), in)
	if err != nil {
		t.Fatalf("%T: %v", in, err)
	}
	return out
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s: %v", what, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// jsonOf renders v for comparisons and messages.
func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// Names and code

func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func functionArn(name string) string {
	return "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name
}

func sha256B64(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// zipFile is one entry of a zip built by makeZip.
type zipFile struct {
	Name string
	Body string
	Mode os.FileMode // 0 = 0644
}

var zipEpoch = time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)

// makeZip builds a deterministic zip in memory.
func makeZip(t testing.TB, files ...zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: zipEpoch}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, f.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pythonZip(t testing.TB, marker string) []byte {
	return makeZip(t, zipFile{Name: "lambda_function.py", Body: "# " + marker + "\ndef lambda_handler(event, context):\n    return {'ok': True, 'marker': '" + marker + "'}\n"})
}

func nodeZip(t testing.TB, marker string) []byte {
	return makeZip(t, zipFile{Name: "index.mjs", Body: "// " + marker + "\nexport const handler = async (event) => ({ ok: true, marker: '" + marker + "' });\n"})
}

func bootstrapZip(t testing.TB, marker string) []byte {
	return makeZip(t, zipFile{Name: "bootstrap", Mode: 0o755, Body: "#!/bin/sh\n# " + marker + "\nexec ./handler\n"},
		zipFile{Name: "handler", Mode: 0o755, Body: "#!/bin/sh\necho " + marker + "\n"})
}

// countingWriter counts bytes, so huge archives can be described without being kept.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// zipBomb builds a zip with one deflated entry of n zero bytes (n a multiple of
// 1 MiB), streaming: the zeros are never held in memory and the archive is about
// n/800 bytes. One MiB of zeros is compressed once and its sync-flushed block
// repeated (each repetition starts with a literal, so none refers back into another),
// then a final empty block ends the stream. With lieAboutSize the headers claim the
// entry is 1 KB, so only counting what decompression really produces catches it.
func zipBomb(t testing.TB, n int64, lieAboutSize bool) []byte {
	t.Helper()
	const chunk = 1 << 20
	if n%chunk != 0 {
		t.Fatalf("zipBomb: %d is not a multiple of %d", n, chunk)
	}
	zeros := make([]byte, chunk)
	var seg bytes.Buffer
	fw, err := flate.NewWriter(&seg, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(zeros); err != nil {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != nil { // non-final blocks, then byte-aligned
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	crc := crc32.NewIEEE()
	count := n / chunk
	h := &zip.FileHeader{
		Name:               "bomb.bin",
		Method:             zip.Deflate,
		Modified:           zipEpoch,
		CompressedSize64:   uint64(int64(seg.Len())*count + 5),
		UncompressedSize64: uint64(n),
	}
	for i := int64(0); i < count; i++ {
		crc.Write(zeros)
	}
	h.CRC32 = crc.Sum32()
	if lieAboutSize {
		h.UncompressedSize64 = 1024
	}
	w, err := zw.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	cw := &countingWriter{w: w}
	for i := int64(0); i < count; i++ {
		if _, err := cw.Write(seg.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	// A final, empty stored block.
	if _, err := cw.Write([]byte{0x01, 0x00, 0x00, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if uint64(cw.n) != h.CompressedSize64 {
		t.Fatalf("zipBomb: wrote %d compressed bytes, header says %d", cw.n, h.CompressedSize64)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// storedRandomZip builds a zip whose one entry is size random bytes, stored (random
// bytes do not compress, and Store makes the archive size exact).
func storedRandomZip(t testing.TB, size int) []byte {
	t.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Grow(size + 1024)
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "random.bin", Method: zip.Store, Modified: zipEpoch})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ---------------------------------------------------------------------------
// Function helpers

// createInput is a valid python3.12 CreateFunction request.
func createInput(name string, zip []byte) *lambda.CreateFunctionInput {
	return &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.RuntimePython312,
		Handler:      aws.String("lambda_function.lambda_handler"),
		Role:         aws.String(testRole),
		Code:         &types.FunctionCode{ZipFile: zip},
	}
}

// createFunction creates a python function and returns its configuration.
func createFunction(t testing.TB, c *lambda.Client, name string, mod ...func(*lambda.CreateFunctionInput)) *lambda.CreateFunctionOutput {
	t.Helper()
	in := createInput(name, pythonZip(t, name))
	for _, m := range mod {
		m(in)
	}
	out, err := c.CreateFunction(ctxT(t), in)
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

// download fetches a Code.Location with plain HTTP, as the CLI and Terraform do.
func download(t testing.TB, location string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, location, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", location, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
