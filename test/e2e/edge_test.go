package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// The API edge's bounds: strangers cost no memory, request bodies in flight are
// bounded, and slow clients are cut off.

// rss is the resident memory of the server process, from /proc.
func (s *server) rss(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// zeroReader is an endless stream of zeros: uploads are generated, never held.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// countingReader counts what the client managed to send.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// rawUpload sends req (its body streamed) on its own connection and returns the
// response, read while the body is still being written, as a client that watches
// for an early answer does.
func rawUpload(addr string, req *http.Request, timeout time.Duration) (*http.Response, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	go func() { _ = req.Write(conn) }() // ends when the server closes the connection
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b, err
}

// TestUnauthenticatedUploadFlood: fifty concurrent 60 MB CreateFunction uploads
// without credentials, with an access key that is not the server's, or with the
// server's key but a stale date, are each answered with AWS's 403 at once, without
// their bodies being read: the server's memory stays within 100 MB of idle, and
// signed requests are served throughout.
func TestUnauthenticatedUploadFlood(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	c := s.client()
	// Warm up (first requests allocate caches), then take the idle figure.
	for range 3 {
		call(t, c.ListFunctions, &lambda.ListFunctionsInput{})
		call(t, c.GetAccountSettings, &lambda.GetAccountSettingsInput{})
	}
	time.Sleep(200 * time.Millisecond)
	idle := s.rss(t)

	const (
		uploads    = 50
		uploadSize = 60 << 20
		answerIn   = 20 * time.Second // "at once", with generous room for a busy machine
	)
	kinds := []struct {
		name, errType string
		sign          func(*http.Request) error
	}{
		{"no credentials", "MissingAuthenticationTokenException", nil},
		{"unknown access key", "UnrecognizedClientException", func(r *http.Request) error {
			return v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIASTRANGERSTRANGER", SecretAccessKey: "guess"},
				r, strings.Repeat("0", 64), "lambda", region, time.Now())
		}},
		{"the server's key, a stale date", "InvalidSignatureException", func(r *http.Request) error {
			return v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: "guess"},
				r, strings.Repeat("0", 64), "lambda", region, time.Now().Add(-time.Hour))
		}},
	}

	var peak atomic.Int64
	peak.Store(idle)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { // sample the server's memory throughout
		defer bg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := s.rss(t); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var served atomic.Int64
	signedErrs := make(chan error, 1)
	go func() { // signed requests keep being answered
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
			if err == nil {
				_, err = c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
			}
			cancel()
			if err != nil {
				select {
				case signedErrs <- err:
				default:
				}
				return
			}
			served.Add(1)
		}
	}()

	var sent atomic.Int64
	type result struct {
		kind, errType string
		status        int
		took          time.Duration
		err           error
	}
	results := make(chan result, uploads)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := kinds[i%len(kinds)]
			req, err := http.NewRequest(http.MethodPost, s.url()+"/2015-03-31/functions", countingReader{io.LimitReader(zeroReader{}, uploadSize), &sent})
			if err != nil {
				results <- result{kind: k.name, err: err}
				return
			}
			req.ContentLength = uploadSize
			req.Header.Set("Content-Type", "application/json")
			if k.sign != nil {
				if err := k.sign(req); err != nil {
					results <- result{kind: k.name, err: err}
					return
				}
			}
			t0 := time.Now()
			resp, _, err := rawUpload(s.addr, req, 2*answerIn)
			r := result{kind: k.name, took: time.Since(t0), err: err}
			if err == nil {
				r.status, r.errType = resp.StatusCode, resp.Header.Get("x-amzn-ErrorType")
				if !resp.Close { // ReadResponse turns "Connection: close" into Close
					r.err = errors.New("the refusal keeps the connection open, so the server would read on")
				}
			}
			results <- r
		}()
	}
	wg.Wait()
	flood := time.Since(start)
	// The server has answered everything; let it close the connections, then stop
	// sampling.
	time.Sleep(time.Second)
	close(stop)
	bg.Wait()
	close(results)

	var slowest time.Duration
	for r := range results {
		want := ""
		for _, k := range kinds {
			if k.name == r.kind {
				want = k.errType
			}
		}
		switch {
		case r.err != nil:
			t.Errorf("%s: %v", r.kind, r.err)
		case r.status != http.StatusForbidden || r.errType != want:
			t.Errorf("%s: %d %s, want 403 %s", r.kind, r.status, r.errType, want)
		case r.took > answerIn:
			t.Errorf("%s: answered after %s", r.kind, r.took.Round(time.Millisecond))
		}
		slowest = max(slowest, r.took)
	}
	select {
	case err := <-signedErrs:
		t.Errorf("a signed request during the flood failed: %v", err)
	default:
	}
	if served.Load() == 0 {
		t.Error("no signed request was answered during the flood")
	}
	grew := peak.Load() - idle
	t.Logf("%d uploads of %d MB answered in %s (slowest %s); clients got %d MB onto the wire; server RSS idle %d MB, peak %d MB (+%d MB); %d signed request pairs served meanwhile",
		uploads, uploadSize>>20, flood.Round(time.Millisecond), slowest.Round(time.Millisecond), sent.Load()>>20, idle>>20, peak.Load()>>20, grew>>20, served.Load())
	if grew > 100<<20 {
		t.Errorf("the server's RSS grew by %d MB during the flood, over the 100 MB allowed", grew>>20)
	}
}

// paddedCreate is a signed CreateFunction whose JSON is padded with whitespace to
// size bytes.
func paddedCreate(t testing.TB, s *server, name string, size int) ([]byte, *http.Request) {
	t.Helper()
	doc, err := json.Marshal(map[string]any{
		"FunctionName": name, "Runtime": "python3.12", "Handler": "lambda_function.lambda_handler", "Role": testRole,
		"Code": map[string]string{"ZipFile": base64.StdEncoding.EncodeToString(pythonZip(t, name))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) > size {
		t.Fatalf("the document is %d bytes already", len(doc))
	}
	body := append(doc, bytes.Repeat([]byte(" "), size-len(doc))...)
	req, err := http.NewRequest(http.MethodPost, s.url()+"/2015-03-31/functions", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	sum := sha256Hex(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret},
		req, sum, "lambda", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return body, req
}

// TestInflightBodyBound: with --max-inflight-body-mb 8, a 6 MB upload still being
// received leaves no room for a second one, which gets 429 TooManyRequestsException
// at once; once the first is in, the second goes through; a body over the whole
// bound always gets 429.
func TestInflightBodyBound(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{extraArgs: []string{"--max-inflight-body-mb", "8"}})
	const size = 6 << 20

	// The first upload: its headers and 1 MB of its body, then it pauses.
	firstBody, firstReq := paddedCreate(t, s, uniqueName("edge-first"), size)
	gate := make(chan struct{})
	firstReq.Body = io.NopCloser(io.MultiReader(bytes.NewReader(firstBody[:1<<20]), gatedReader{gate, bytes.NewReader(firstBody[1<<20:])}))
	type answer struct {
		resp *http.Response
		body []byte
		err  error
	}
	first := make(chan answer, 1)
	go func() {
		resp, b, err := rawUpload(s.addr, firstReq, 2*callTimeout)
		first <- answer{resp, b, err}
	}()
	opened := false
	defer func() {
		if !opened {
			close(gate)
		}
	}()

	// Another, meanwhile, does not fit beside it. The first's reservation is taken
	// once its headers are in, so poll briefly until the bound bites (each attempt
	// with a new name, in case one gets in before).
	var refused rawResponse
	eventually(t, 10*time.Second, "a second upload refused while the first is received", func() error {
		body, req := paddedCreate(t, s, uniqueName("edge-second"), size)
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, b, err := rawUpload(s.addr, req, callTimeout)
		if err != nil {
			return err
		}
		refused = rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
		if resp.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return nil
	})
	if typ := refused.Header.Get("x-amzn-ErrorType"); typ != "TooManyRequestsException" {
		t.Errorf("over the bound: x-amzn-ErrorType %q", typ)
	}
	if _, msg := refused.errorDoc(t); !strings.Contains(msg, "--max-inflight-body-mb") {
		t.Errorf("the 429 does not name the flag: %q", msg)
	}
	if refused.Header.Get("Retry-After") == "" {
		t.Error("the 429 has no Retry-After")
	}

	// The first finishes and is created.
	opened = true
	close(gate)
	a := <-first
	if a.err != nil {
		t.Fatalf("the first upload: %v", a.err)
	}
	if a.resp.StatusCode != http.StatusCreated {
		t.Fatalf("the first upload: %d %s", a.resp.StatusCode, a.body)
	}
	// Its reservation is back: another upload of the same size goes through.
	body, req := paddedCreate(t, s, uniqueName("edge-third"), size)
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, b, err := rawUpload(s.addr, req, callTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("an upload after the first: %d %s", resp.StatusCode, b)
	}

	// A body bigger than the whole bound, through the SDK.
	_, err = s.client().CreateFunction(ctxT(t), createInput(uniqueName("edge-big"), storedRandomZip(t, 9<<20)))
	wantAPIError(t, err, "TooManyRequestsException", 429, "--max-inflight-body-mb")
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// gatedReader reads r once gate is closed: a client that pauses mid-body.
type gatedReader struct {
	gate <-chan struct{}
	r    io.Reader
}

func (g gatedReader) Read(p []byte) (int, error) {
	<-g.gate
	return g.r.Read(p)
}

// TestSlowClients: a connection that never finishes its headers is closed by the
// server (10 s header timeout), and a signed request whose body stops arriving is
// answered 400 and closed once its body deadline passes.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)

	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		conn, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		closed := make(chan error, 1)
		go func() {
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
			_, err := io.Copy(io.Discard, conn)
			closed <- err
		}()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case err := <-closed:
				took := time.Since(start)
				t.Logf("closed after %s (%v)", took.Round(time.Millisecond), err)
				if took > time.Minute {
					t.Errorf("a connection that never finished its headers was kept %s", took)
				}
				return
			case <-tick.C:
				_, _ = io.WriteString(conn, "a") // one byte at a time, never a line end
			}
		}
	})

	t.Run("body", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"Description":"` + strings.Repeat("x", 200) + `"}`)
		req, err := http.NewRequest(http.MethodPut, s.url()+"/2015-03-31/functions/edge-slow/configuration", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret},
			req, sha256Hex(body), "lambda", region, time.Now()); err != nil {
			t.Fatal(err)
		}
		// The body stops after 10 bytes.
		stalled := make(chan struct{})
		defer close(stalled)
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:10]), gatedReader{stalled, bytes.NewReader(nil)}))
		start := time.Now()
		resp, b, err := rawUpload(s.addr, req, 3*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("answered %d after %s", resp.StatusCode, took.Round(time.Millisecond))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-amzn-ErrorType") != "InvalidRequestContentException" {
			t.Errorf("a body that stops: %d %s %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), b)
		}
		if took > 2*time.Minute {
			t.Errorf("a body that stopped arriving was waited for %s", took)
		}
	})
}
