package lambdaapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/store"
)

// countingBody counts the bytes a handler read from a request body.
type countingBody struct {
	r io.Reader
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return nil }

// uploadRequest is a 60 MB CreateFunction, streamed from a generator, signed with
// sign (nil: not signed at all).
func uploadRequest(t testing.TB, size int64, sign func(*http.Request)) (*http.Request, *countingBody) {
	t.Helper()
	body := &countingBody{r: io.LimitReader(zeros{}, size)}
	r := httptest.NewRequest("POST", "http://127.0.0.1:9060/2015-03-31/functions", nil)
	r.Body, r.ContentLength = body, size
	r.Header.Set("Content-Type", "application/json")
	if sign != nil {
		sign(r)
	}
	return r, body
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// signAs signs a request's headers with the key, time and region given, and a
// payload hash that does not matter: the request must be refused before it counts.
func signAs(t testing.TB, key, secret, region string, at time.Time) func(*http.Request) {
	return func(r *http.Request) {
		t.Helper()
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			r, strings.Repeat("0", 64), "lambda", region, at)
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestRefusedBeforeBody: a request whose credentials are not ours is answered
// without a byte of its body read, with AWS's error type, and the connection is
// closed after the answer so Go's server does not drain the body either.
func TestRefusedBeforeBody(t *testing.T) {
	s := newTestServer(t)
	const size = 60 << 20
	cases := []struct {
		name   string
		sign   func(*http.Request)
		header map[string]string
		status int
		errTyp string
	}{
		{"unsigned", nil, nil, 403, "MissingAuthenticationTokenException"},
		{"unknown key", signAs(t, "AKIASTRANGERSTRANGER", "x", "us-east-1", time.Now()), nil, 403, "UnrecognizedClientException"},
		{"stale", signAs(t, testKey, testSecret, "us-east-1", time.Now().Add(-20*time.Minute)), nil, 403, "InvalidSignatureException"},
		{"other region", signAs(t, testKey, testSecret, "eu-west-1", time.Now()), nil, 403, "InvalidSignatureException"},
		{"wrong secret, hash declared", signAs(t, testKey, "not-the-secret", "us-east-1", time.Now()),
			map[string]string{"X-Amz-Content-Sha256": strings.Repeat("0", 64)}, 403, "InvalidSignatureException"},
		{"malformed", nil, map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=x", "X-Amz-Date": "20240101T000000Z"}, 400, "IncompleteSignatureException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, body := uploadRequest(t, size, func(r *http.Request) {
				for k, v := range c.header {
					r.Header.Set(k, v)
				}
				if c.sign != nil {
					c.sign(r)
				}
			})
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != c.status || w.Header().Get("x-amzn-ErrorType") != c.errTyp {
				t.Fatalf("got %d %s %s, want %d %s", w.Code, w.Header().Get("x-amzn-ErrorType"), w.Body, c.status, c.errTyp)
			}
			if body.n != 0 {
				t.Errorf("read %d bytes of the body before refusing", body.n)
			}
			if w.Header().Get("Connection") != "close" {
				t.Errorf("Connection: %q, want close", w.Header().Get("Connection"))
			}
		})
	}
	if n := s.bodies.inUse(); n != 0 {
		t.Errorf("%d bytes of the body budget still reserved", n)
	}
}

// TestBodyBudget: bodies are reserved before they are read and given back after;
// past the budget a request is refused with 429 without reading its body.
func TestBodyBudget(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctl := control.New(control.Config{Store: st, Region: "us-east-1", AccountID: "000000000000"})
	s := New(Config{Control: ctl, Credentials: map[string]string{testKey: testSecret}, MaxInflightBodyBytes: 1 << 20})

	// A body over the whole budget.
	big := bytes.Repeat([]byte(" "), 2<<20)
	r := signed(t, "PUT", "/2015-03-31/functions/f/configuration", big)
	body := &countingBody{r: bytes.NewReader(big)}
	r.Body = body
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 429 || w.Header().Get("x-amzn-ErrorType") != "TooManyRequestsException" || !strings.Contains(w.Body.String(), "--max-inflight-body-mb") {
		t.Fatalf("over the budget: %d %s %s", w.Code, w.Header().Get("x-amzn-ErrorType"), w.Body)
	}
	if body.n != 0 || w.Header().Get("Retry-After") == "" {
		t.Errorf("over the budget: read %d bytes, Retry-After %q", body.n, w.Header().Get("Retry-After"))
	}

	// Another request holds most of the budget (as one still being received would).
	if !s.bodies.reserve(900 << 10) {
		t.Fatal("could not reserve")
	}
	small := bytes.Repeat([]byte(" "), 200<<10)
	w = httptest.NewRecorder()
	s.ServeHTTP(w, signed(t, "PUT", "/2015-03-31/functions/f/configuration", small))
	if w.Code != 429 {
		t.Fatalf("with the budget held: %d %s", w.Code, w.Body)
	}
	s.bodies.release(900 << 10)
	w = httptest.NewRecorder()
	s.ServeHTTP(w, signed(t, "PUT", "/2015-03-31/functions/f/configuration", small))
	if w.Code != 404 { // the body was read and the request reached the registry
		t.Fatalf("with the budget free: %d %s", w.Code, w.Body)
	}

	// Requests in parallel; every reservation is given back, whatever the answer.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := bytes.Repeat([]byte(" "), (i+1)*50<<10)
			r := signed(t, "PUT", "/2015-03-31/functions/f/configuration", b)
			if i%4 == 0 {
				r.Body = io.NopCloser(bytes.NewReader(b[:len(b)/2])) // the body ends early
			}
			s.ServeHTTP(httptest.NewRecorder(), r)
		}()
	}
	wg.Wait()
	if n := s.bodies.inUse(); n != 0 {
		t.Errorf("%d bytes of the body budget still reserved", n)
	}
}

// TestChunkedBody: a body of unknown length reserves the operation's limit, and one
// that runs past it is a 413.
func TestChunkedBody(t *testing.T) {
	s := newTestServer(t)
	over := bytes.Repeat([]byte(" "), maxOtherRequestBytes+10)
	sum := sha256.Sum256(over)
	r := httptest.NewRequest("PUT", "http://127.0.0.1:9060/2015-03-31/functions/f/configuration", nil)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(over)), -1
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
		r, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 413 || w.Header().Get("x-amzn-ErrorType") != "RequestEntityTooLargeException" {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if n := s.bodies.inUse(); n != 0 {
		t.Errorf("%d bytes of the body budget still reserved", n)
	}
}

func TestBodyReadTimeout(t *testing.T) {
	if d := bodyReadTimeout(maxCodeRequestBytes); d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("a full code upload gets %s to arrive", d)
	}
	if d := bodyReadTimeout(100); d != bodyReadBase {
		t.Errorf("a small body gets %s", d)
	}
}
