package lambdaapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/store"
)

const (
	testKey    = "AKIATESTTESTTEST1234"
	testSecret = "testsecrettestsecrettestsecrettestsecret"
)

// newTestServer runs the edge over a real embedded JetStream store.
func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ctl := control.New(control.Config{Store: st, Region: "us-east-1", AccountID: "000000000000"})
	return New(Config{Control: ctl, Credentials: map[string]string{testKey: testSecret}})
}

// signed builds a request signed as the AWS SDKs sign it.
func signed(tb testing.TB, method, path string, body []byte) *http.Request {
	tb.Helper()
	r := httptest.NewRequest(method, "http://127.0.0.1:9060/", bytes.NewReader(body))
	r.URL.Opaque = ""
	r.URL.RawPath = ""
	if p, q, ok := strings.Cut(path, "?"); ok {
		r.URL.Path, r.URL.RawQuery = p, q
	} else {
		r.URL.Path = path
	}
	r.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
		r, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestErrorShapes(t *testing.T) {
	s := newTestServer(t)
	cases := []struct {
		method, path, body string
		status             int
		errType            string
	}{
		{"POST", "/2015-03-31/functions", `{not json`, 400, "InvalidRequestContentException"},
		{"POST", "/2015-03-31/functions", `{"MemorySize":"big"}`, 400, "InvalidRequestContentException"},
		{"POST", "/2015-03-31/functions", `{"FunctionName":"f","Role":"arn:aws:iam::000000000000:role/r","Runtime":"python3.12","Handler":"a.b","Code":{"ZipFile":"!!notbase64"}}`, 400, "InvalidRequestContentException"},
		{"GET", "/2015-03-31/functions/nope", ``, 404, "ResourceNotFoundException"},
		{"GET", "/2015-03-31/functions/bad%20name", ``, 400, "ValidationException"},
		{"GET", "/2015-03-31/functions?MaxItems=0", ``, 400, "ValidationException"},
		{"GET", "/2015-03-31/functions?MaxItems=x", ``, 400, "ValidationException"},
		{"PUT", "/2019-09-30/functions/nope/provisioned-concurrency?Qualifier=1", `{"ProvisionedConcurrentExecutions":1}`, 404, "ResourceNotFoundException"},
		{"PUT", "/2019-09-30/functions/nope/provisioned-concurrency?Qualifier=1", `{"ProvisionedConcurrentExecutions":0}`, 400, "ValidationException"},
		{"PUT", "/2019-09-30/functions/nope/provisioned-concurrency", `{"ProvisionedConcurrentExecutions":1}`, 400, "ValidationException"},
		{"GET", "/2019-09-30/functions/nope/provisioned-concurrency?List=ALL&MaxItems=51", ``, 400, "ValidationException"},
		{"PUT", "/2019-09-25/functions/nope/event-invoke-config", `{"MaximumRetryAttempts":1}`, 404, "ResourceNotFoundException"},
		{"PUT", "/2019-09-25/functions/nope/event-invoke-config", `{}`, 400, "InvalidParameterValueException"},
		{"PUT", "/2019-09-25/functions/nope/event-invoke-config", `{"MaximumRetryAttempts":3}`, 400, "ValidationException"},
		{"PUT", "/2019-09-25/functions/nope/event-invoke-config", `{"DestinationConfig":{"OnFailure":{"Destination":"invalid"}}}`, 400, "ValidationException"},
		{"POST", "/2019-09-25/functions/nope/event-invoke-config", `{"MaximumEventAgeInSeconds":"x"}`, 400, "InvalidRequestContentException"},
		{"GET", "/2019-09-25/functions/nope/event-invoke-config?Qualifier=1", ``, 404, "ResourceNotFoundException"},
		{"DELETE", "/2019-09-25/functions/nope/event-invoke-config", ``, 404, "ResourceNotFoundException"},
		{"GET", "/2019-09-25/functions/nope/event-invoke-config/list?MaxItems=51", ``, 400, "ValidationException"},
		{"GET", "/2019-09-25/functions/nope/event-invoke-config/list", ``, 404, "ResourceNotFoundException"},
		{"PUT", "/2024-08-31/functions/nope/recursion-config", `{"RecursiveLoop":"Sometimes"}`, 400, "ValidationException"},
		{"GET", "/2024-08-31/functions/nope/recursion-config", ``, 404, "ResourceNotFoundException"},
		{"POST", "/2015-03-31/functions", `{"FunctionName":"f","Role":"arn:aws:iam::000000000000:role/r","Runtime":"python3.12","Handler":"a.b","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},"DeadLetterConfig":{"TargetArn":"arn:aws:sns:us-east-1:000000000000:t"}}`, 400, "InvalidParameterValueException"},
		{"POST", "/2015-03-31/functions/f/policy", `{}`, 501, "NotImplementedException"},
		{"GET", "/2018-10-31/layers", ``, 501, "NotImplementedException"},
		{"GET", "/no/such/path", ``, 404, "UnknownOperationException"},
		{"PATCH", "/2015-03-31/functions", ``, 404, "UnknownOperationException"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, signed(t, c.method, c.path, []byte(c.body)))
		if w.Code != c.status || w.Header().Get("x-amzn-ErrorType") != c.errType {
			t.Errorf("%s %s %s: got %d %s %s", c.method, c.path, c.body, w.Code, w.Header().Get("x-amzn-ErrorType"), w.Body)
			continue
		}
		var body errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Message == nil || *body.Message == "" || body.Type == "" {
			t.Errorf("%s %s: error body %q", c.method, c.path, w.Body)
		}
		if w.Header().Get("x-amzn-RequestId") == "" {
			t.Errorf("%s %s: no x-amzn-RequestId", c.method, c.path)
		}
	}
}

func TestOversizedBody(t *testing.T) {
	s := newTestServer(t)
	r := signed(t, "PUT", "/2015-03-31/functions/f/configuration", bytes.Repeat([]byte(" "), maxOtherRequestBytes+1))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 413 || w.Header().Get("x-amzn-ErrorType") != "RequestEntityTooLargeException" {
		t.Fatalf("got %d %s", w.Code, w.Header().Get("x-amzn-ErrorType"))
	}
}

// FuzzAPI sends signed requests with fuzzed paths and bodies through the whole edge
// and a real registry: whatever comes in, the answer is a well-formed Lambda
// response, and never a 500.
func FuzzAPI(f *testing.F) {
	seeds := []struct{ method, path, body string }{
		{"POST", "/2015-03-31/functions", `{"FunctionName":"f","Role":"arn:aws:iam::000000000000:role/r","Runtime":"python3.12","Handler":"a.b","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}`},
		{"PUT", "/2015-03-31/functions/f/configuration", `{"MemorySize":256,"Environment":{"Variables":{"A":"b"}}}`},
		{"POST", "/2015-03-31/functions/f/versions", `{}`},
		{"POST", "/2015-03-31/functions/f/aliases", `{"Name":"live","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.5}}}`},
		{"PUT", "/2017-10-31/functions/f/concurrency", `{"ReservedConcurrentExecutions":5}`},
		{"PUT", "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=live", `{"ProvisionedConcurrentExecutions":3}`},
		{"GET", "/2019-09-30/functions/f/provisioned-concurrency?List=ALL&MaxItems=1&Marker=bGl2ZQ", ``},
		{"DELETE", "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1", ``},
		{"POST", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af", `{"Tags":{"a":"b"}}`},
		{"GET", "/2015-03-31/functions?FunctionVersion=ALL&MaxItems=2&Marker=JExBVEVTVA", ``},
		{"PUT", "/2019-09-25/functions/f/event-invoke-config?Qualifier=live", `{"MaximumRetryAttempts":1,"MaximumEventAgeInSeconds":60,"DestinationConfig":{"OnSuccess":{"Destination":"arn:aws:lambda:us-east-1:000000000000:function:g"},"OnFailure":{"Destination":"arn:aws:sqs:us-east-1:000000000000:q"}}}`},
		{"POST", "/2019-09-25/functions/f/event-invoke-config", `{"DestinationConfig":{"OnFailure":{}}}`},
		{"GET", "/2019-09-25/functions/f/event-invoke-config/list?MaxItems=1&Marker=JExBVEVTVA", ``},
		{"DELETE", "/2019-09-25/functions/f%3A1/event-invoke-config", ``},
		{"PUT", "/2024-08-31/functions/f/recursion-config", `{"RecursiveLoop":"Allow"}`},
		{"PUT", "/2015-03-31/functions/f/configuration", `{"DeadLetterConfig":{"TargetArn":"arn:aws:sqs:us-east-1:000000000000:q"}}`},
		{"DELETE", "/2015-03-31/functions/f?Qualifier=1", ``},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, []byte(s.body))
	}
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		switch method {
		case "GET", "POST", "PUT", "DELETE":
		default:
			return
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " #\r\n\x00") || len(body) > 1<<16 {
			return
		}
		r := signed(t, method, path, body)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != 501 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Code >= 400 && w.Header().Get("x-amzn-ErrorType") == "" {
			t.Fatalf("%s %s: error without x-amzn-ErrorType", method, path)
		}
	})
}
