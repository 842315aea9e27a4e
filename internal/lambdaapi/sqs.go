package lambdaapi

import (
	"net/http"
	"strings"
)

// isSQSRequest tells a call of the queue API (internal/sqsapi) from a Lambda or STS
// one: the JSON protocol names its target; a query-protocol call is signed for
// service "sqs" (its credential scope says so) or posted to a queue's URL path,
// /<12-digit account>/<name>, which no Lambda route has.
func isSQSRequest(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.") {
		return true
	}
	if strings.Contains(r.Header.Get("Authorization"), "/sqs/aws4_request") {
		return true
	}
	if strings.Contains(r.URL.RawQuery, "X-Amz-Credential") && strings.Contains(r.URL.Query().Get("X-Amz-Credential"), "/sqs/aws4_request") {
		return true // presigned
	}
	if r.Method != http.MethodPost {
		return false
	}
	acct, name, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !ok || len(acct) != 12 || name == "" || strings.Contains(name, "/") {
		return false
	}
	for _, c := range acct {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
