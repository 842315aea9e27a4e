package sigv4

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// refusedBody fails the test on any read: VerifyHeaders must decide without the body.
type refusedBody struct{ t testing.TB }

func (b refusedBody) Read([]byte) (int, error) {
	b.t.Helper()
	b.t.Error("VerifyHeaders read the request body")
	return 0, io.ErrUnexpectedEOF
}

func (refusedBody) Close() error { return nil }

// TestVerifyHeadersBeforeBody: every failure that does not need the body is found
// before it is read, with the same error Verify gives; what needs the body is left
// to VerifyBody.
func TestVerifyHeadersBeforeBody(t *testing.T) {
	post := signed{method: "POST", url: "http://" + testHost + "/2015-03-31/functions", body: `{"FunctionName":"f"}`,
		header: map[string]string{"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"}}
	declared := post
	declared.header = map[string]string{"Content-Type": "application/json", "X-Amz-Content-Sha256": hashHex([]byte(post.body))}
	with := func(s signed, f func(*signed)) signed { f(&s); return s }
	cases := []struct {
		name       string
		raw        func(t testing.TB) string
		headerErr  error // from VerifyHeaders, before the body; nil = passes
		bodyErr    error // then from VerifyBody; nil = accepted
		bodyTamper func(t testing.TB, raw string) string
	}{
		{name: "good", raw: post.wireBytes},
		{name: "no auth", headerErr: ErrMissingAuthenticationToken,
			raw: func(t testing.TB) string {
				return "POST /2015-03-31/functions HTTP/1.1\r\nHost: " + testHost + "\r\nContent-Length: 2\r\n\r\n{}"
			}},
		{name: "unknown key", raw: with(post, func(s *signed) { s.keyID = "AKIDSTRANGER" }).wireBytes, headerErr: ErrUnrecognizedClient},
		{name: "wrong region", raw: with(post, func(s *signed) { s.region = "eu-west-1" }).wireBytes, headerErr: ErrInvalidSignature},
		{name: "wrong service", raw: with(post, func(s *signed) { s.service = "s3" }).wireBytes, headerErr: ErrInvalidSignature},
		{name: "stale", raw: with(post, func(s *signed) { s.at = testNow.Add(-20 * 60e9) }).wireBytes, headerErr: ErrInvalidSignature},
		{name: "malformed", headerErr: ErrIncompleteSignature,
			raw: func(t testing.TB) string {
				return "POST /2015-03-31/functions HTTP/1.1\r\nHost: " + testHost + "\r\nAuthorization: AWS4-HMAC-SHA256 garbage\r\nContent-Length: 2\r\n\r\n{}"
			}},
		{name: "signed header removed", headerErr: ErrInvalidSignature,
			raw: func(t testing.TB) string {
				return replaceOnce(t, post.wireBytes(t), "X-Amz-Invocation-Type: Event\r\n", "")
			}},
		// Without a declared payload hash, a wrong secret can only be told with the body.
		{name: "wrong secret", raw: with(post, func(s *signed) { s.secret = "not-it" }).wireBytes, bodyErr: ErrInvalidSignature},
		{name: "body changed", raw: post.wireBytes, bodyErr: ErrInvalidSignature,
			bodyTamper: func(t testing.TB, raw string) string { return replaceOnce(t, raw, `"f"`, `"g"`) }},
		// With one, the signature is checked before the body.
		{name: "declared hash", raw: declared.wireBytes},
		{name: "declared hash, wrong secret", raw: with(declared, func(s *signed) { s.secret = "not-it" }).wireBytes, headerErr: ErrInvalidSignature},
		{name: "declared hash, body changed", raw: declared.wireBytes, bodyErr: ErrInvalidSignature,
			bodyTamper: func(t testing.TB, raw string) string { return replaceOnce(t, raw, `"f"`, `"g"`) }},
		{name: "declared hash malformed", headerErr: ErrInvalidSignature,
			raw: with(declared, func(s *signed) {
				s.header = map[string]string{"X-Amz-Content-Sha256": "not-a-hash"}
				s.payloadHash = "not-a-hash"
			}).wireBytes},
		{name: "unsigned payload", raw: with(post, func(s *signed) {
			s.header = map[string]string{"X-Amz-Content-Sha256": unsignedPayload}
			s.payloadHash = unsignedPayload
		}).wireBytes},
		{name: "presigned", raw: signed{method: "GET", url: "http://" + testHost + "/2015-03-31/functions/f?X-Amz-Expires=60", presign: true, payloadHash: unsignedPayload}.wireBytes},
		{name: "presigned with the body's hash", raw: signed{method: "POST", url: "http://" + testHost + "/2015-03-31/functions/f/invocations", body: "{}", presign: true}.wireBytes},
	}
	v := newVerifier(testNow)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.raw(t)
			if c.bodyTamper != nil {
				raw = c.bodyTamper(t, raw)
			}
			r, body := readWire(t, raw)
			r.Body = refusedBody{t}
			sig, err := v.VerifyHeaders(r)
			if !errors.Is(err, c.headerErr) || (c.headerErr == nil) != (err == nil) {
				t.Fatalf("VerifyHeaders: %v, want %v", err, c.headerErr)
			}
			// Verify (both phases) gives the same answer as the phases do.
			_, whole := v.Verify(r, body)
			if err != nil {
				if whole == nil || whole.Error() != err.Error() {
					t.Fatalf("Verify: %v, VerifyHeaders: %v", whole, err)
				}
				return
			}
			if sig.AccessKeyID() != testKeyID {
				t.Errorf("AccessKeyID = %q", sig.AccessKeyID())
			}
			id, err := sig.VerifyBody(body)
			if !errors.Is(err, c.bodyErr) || (c.bodyErr == nil) != (err == nil) {
				t.Fatalf("VerifyBody: %q, %v, want %v", id, err, c.bodyErr)
			}
			if (whole == nil) != (err == nil) {
				t.Fatalf("Verify: %v, the phases: %v", whole, err)
			}
			if err == nil && id != testKeyID {
				t.Fatalf("VerifyBody = %q", id)
			}
		})
	}
}

// TestMissingSignedHeader: headers Go's server moves out of r.Header are not missing.
func TestMissingSignedHeader(t *testing.T) {
	r, _ := readWire(t, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Empty:\r\nX-A: 1\r\n\r\n0\r\n\r\n")
	for signedHeaders, want := range map[string]string{
		"host;x-a":                             "",
		"host;transfer-encoding;x-empty":       "",
		"content-length;host":                  "",
		"host;x-a;x-b":                         "x-b",
		"connection;host;trailer;x-c;x-a":      "x-c",
		strings.Repeat("x-long", 20) + ";host": strings.Repeat("x-long", 20),
	} {
		if got := missingSignedHeader(r, signedHeaders); got != want {
			t.Errorf("missingSignedHeader(%q) = %q, want %q", signedHeaders, got, want)
		}
	}
}
