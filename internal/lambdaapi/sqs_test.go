package lambdaapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIsSQSRequest(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		want         bool
	}{
		{"POST", "/", map[string]string{"X-Amz-Target": "AmazonSQS.SendMessage"}, true},
		{"POST", "/", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"}, true},
		{"POST", "/", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=x"}, false},
		{"POST", "/123456789012/my-queue", nil, true},
		{"POST", "/123456789012/my-queue.fifo", nil, true},
		{"GET", "/123456789012/my-queue", nil, false},
		{"POST", "/2015-03-31/functions", nil, false},
		{"POST", "/12345678901x/q", nil, false},
		{"POST", "/2015-03-31/functions/f/invocations", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request"}, false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		if got := isSQSRequest(r); got != tc.want {
			t.Errorf("%s %s %v: %v, want %v", tc.method, tc.path, tc.header, got, tc.want)
		}
	}
	_ = http.MethodPost
}
