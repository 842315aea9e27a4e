package e2e

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

var reRequestID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestSigV4 checks that every API request must carry a valid Signature Version 4,
// and that failures are AWS's error types.
func TestSigV4(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	name := uniqueName("sigv4")
	createFunction(t, s.client(), name)
	path := "/2015-03-31/functions/" + name

	check := func(what string, r rawResponse, status int, code string) {
		t.Helper()
		if r.Status != status || r.Header.Get("x-amzn-ErrorType") != code {
			t.Errorf("%s: %d %q %s, want %d %s", what, r.Status, r.Header.Get("x-amzn-ErrorType"), r.Body, status, code)
			return
		}
		if _, msg := r.errorDoc(t); msg == "" {
			t.Errorf("%s: no message", what)
		}
		if !reRequestID.MatchString(r.Header.Get("x-amzn-RequestId")) {
			t.Errorf("%s: x-amzn-RequestId %q", what, r.Header.Get("x-amzn-RequestId"))
		}
	}

	ok := s.raw(t, http.MethodGet, path, nil, rawOptions{})
	if ok.Status != 200 {
		t.Fatalf("a correctly signed GetFunction: %d %s", ok.Status, ok.Body)
	}
	check("no Authorization", s.raw(t, http.MethodGet, path, nil, rawOptions{unsigned: true}), 403, "MissingAuthenticationTokenException")
	check("no Authorization, POST", s.raw(t, http.MethodPost, "/2015-03-31/functions", []byte(`{}`), rawOptions{unsigned: true}), 403, "MissingAuthenticationTokenException")
	check("unknown access key", s.raw(t, http.MethodGet, path, nil, rawOptions{keyID: "AKIAUNKNOWNUNKNOWN00"}), 403, "UnrecognizedClientException")
	check("wrong secret", s.raw(t, http.MethodGet, path, nil, rawOptions{secret: "not-the-secret"}), 403, "InvalidSignatureException")
	check("signed 20 minutes ago", s.raw(t, http.MethodGet, path, nil, rawOptions{signingTime: time.Now().Add(-20 * time.Minute)}), 403, "InvalidSignatureException")
	check("signed 20 minutes ahead", s.raw(t, http.MethodGet, path, nil, rawOptions{signingTime: time.Now().Add(20 * time.Minute)}), 403, "InvalidSignatureException")
	// Within the 15 minutes AWS allows, a skewed clock is fine.
	if r := s.raw(t, http.MethodGet, path, nil, rawOptions{signingTime: time.Now().Add(-5 * time.Minute)}); r.Status != 200 {
		t.Errorf("signed 5 minutes ago: %d %s, want 200", r.Status, r.Body)
	}
	garbage := http.Header{"Authorization": {"AWS4-HMAC-SHA256 garbage"}, "X-Amz-Date": {time.Now().UTC().Format("20060102T150405Z")}}
	if r := s.raw(t, http.MethodGet, path, nil, rawOptions{unsigned: true, header: garbage}); r.Status < 400 || r.Status >= 500 {
		t.Errorf("a malformed Authorization header: %d %s, want a 4xx", r.Status, r.Body)
	}

	// A body changed after signing.
	c := s.client()
	r := s.raw(t, http.MethodPut, path+"/configuration", []byte(`{"Description":"signed"}`), rawOptions{sendBody: []byte(`{"Description":"forged"}`)})
	check("body changed after signing", r, 403, "InvalidSignatureException")
	if cfg := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)}); deref(cfg.Description) != "" {
		t.Errorf("a request with a forged body changed the function: Description %q", deref(cfg.Description))
	}

	// The SDK with bad credentials sees the same errors.
	_, err := s.clientWith("AKIAUNKNOWNUNKNOWN00", "x", aws.NopRetryer{}).ListFunctions(ctxT(t), &lambda.ListFunctionsInput{})
	wantAPIError(t, err, "UnrecognizedClientException", 403)
	_, err = s.clientWith(s.keyID, "wrong", aws.NopRetryer{}).ListFunctions(ctxT(t), &lambda.ListFunctionsInput{})
	wantAPIError(t, err, "InvalidSignatureException", 403)
	wrongRegion := lambda.New(lambda.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.url()), Retryer: aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret}, nil
		})})
	_, err = wrongRegion.ListFunctions(ctxT(t), &lambda.ListFunctionsInput{})
	wantAPIError(t, err, "InvalidSignatureException", 403)

	// Names that need escaping in the path (ARNs with colons) verify.
	call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(functionArn(name))})
	call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(functionArn(name)), Qualifier: aws.String("$LATEST")})
	call(t, c.ListTags, &lambda.ListTagsInput{Resource: aws.String(functionArn(name))})
}

// TestRequestIDs: every response carries an x-amzn-RequestId, and no two are alike.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("reqid")
	created := createFunction(t, c, name)
	seen := map[string]string{}
	record := func(what, id string) {
		t.Helper()
		if !reRequestID.MatchString(id) {
			t.Errorf("%s: x-amzn-RequestId %q, want a UUID", what, id)
			return
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("%s has the same request id as %s: %s", what, prev, id)
		}
		seen[id] = what
	}
	id, _ := awsmiddleware.GetRequestIDMetadata(created.ResultMetadata)
	record("CreateFunction", id)
	out := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	id, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	record("GetFunction", id)
	_, err := c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(uniqueName("missing"))})
	record("GetFunction 404", requestIDOf(err))
	del := call(t, c.DeleteFunctionConcurrency, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(name)})
	id, _ = awsmiddleware.GetRequestIDMetadata(del.ResultMetadata)
	record("DeleteFunctionConcurrency (204)", id)
	for _, r := range []struct {
		what string
		o    rawOptions
		m, p string
	}{
		{"unsigned", rawOptions{unsigned: true}, http.MethodGet, "/2015-03-31/functions"},
		{"unknown path", rawOptions{}, http.MethodGet, "/nope"},
		{"not implemented", rawOptions{}, http.MethodGet, "/2018-10-31/layers"},
		{"healthz", rawOptions{unsigned: true}, http.MethodGet, "/healthz"},
	} {
		resp := s.raw(t, r.m, r.p, nil, r.o)
		record(r.what, resp.Header.Get("x-amzn-RequestId"))
	}
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, deref(out.Code.Location), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	record("code download", resp.Header.Get("x-amzn-RequestId"))
}

func requestIDOf(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.ServiceRequestID()
	}
	return ""
}
