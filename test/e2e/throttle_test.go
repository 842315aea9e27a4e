package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// throttleBody is Lambda's 429 document.
type throttleBody struct {
	Type, Message, Reason string
}

func throttleOf(t *testing.T, r invokeResult) throttleBody {
	t.Helper()
	var b struct {
		Type    string `json:"Type"`
		Message string `json:"message"`
		Reason  string `json:"Reason"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("a 429 without Lambda's JSON body: %s", r)
	}
	return throttleBody{b.Type, b.Message, b.Reason}
}

// TestConcurrencyThrottles: reserved concurrency caps its function and 0 stops it
// (Lambda's kill switch), and the account limit caps the functions without a
// reservation — each with 429 TooManyRequestsException, Lambda's body and Reason,
// at once and without starting an env. The counting is the dispatcher's, above
// the sandbox driver: the namespace driver stands for both.
func TestConcurrencyThrottles(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	s := startSandboxServer(t, "namespace", "--account-concurrency", "2")
	c := s.client()
	ctx := ctxT(t)
	a := deploy(t, s, kindPython)
	b := deploy(t, s, kindPython)
	sleep := map[string]any{"action": "sleep", "seconds": 5}

	// Reserved 0: every invoke is throttled; an Event invoke is accepted (and
	// dropped: ZeroReservedConcurrency) as on Lambda.
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(a), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	r := s.invoke(t, a, map[string]any{"action": "echo"}, invokeOpts{})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("x-amzn-ErrorType") != "TooManyRequestsException" {
		t.Fatalf("reserved 0: %s", r)
	}
	if got := throttleOf(t, r); got != (throttleBody{"User", "Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded"}) {
		t.Errorf("reserved 0: body %+v", got)
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(a), InvocationType: types.InvocationTypeEvent})
	if err != nil || out.StatusCode != http.StatusAccepted {
		t.Errorf("an Event invoke of a function reserved at 0: %v, status %d; want 202", err, out.StatusCode)
	}
	if _, err := c.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(a)}); err != nil {
		t.Fatal(err)
	}
	s.invokeOK(t, a, map[string]any{"action": "echo"}, invokeOpts{})

	// The account's 2 executions: two sleeping invocations hold them; a third, of
	// either function, is throttled at once. (A sleeper that meets a probe holding
	// a slot for its moment is throttled too, and tries again, as a client would.)
	var wg sync.WaitGroup
	results := make([]invokeResult, 2)
	for i, fn := range []string{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for deadline := time.Now().Add(30 * time.Second); ; {
				r, err := s.invokeE(fn, sleep, invokeOpts{timeout: 60 * time.Second})
				if err != nil {
					r = invokeResult{Body: []byte(err.Error())}
				}
				results[i] = r
				if r.Status != http.StatusTooManyRequests || time.Now().After(deadline) {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	eventually(t, 20*time.Second, "a third invocation throttled while two run", func() error {
		r := s.invoke(t, b, map[string]any{"action": "echo"}, invokeOpts{})
		if r.Status != http.StatusTooManyRequests {
			return fmt.Errorf("got %s", r)
		}
		if got := throttleOf(t, r); got != (throttleBody{"User", "Rate Exceeded.", "ConcurrentInvocationLimitExceeded"}) {
			t.Errorf("account limit: body %+v", got)
		}
		if r.Elapsed > 5*time.Second {
			t.Errorf("the throttle took %v: it must answer at once", r.Elapsed)
		}
		// The operator's view reads the counters that enforce: both slots taken.
		if v := concurrencyView(t, s); v.UnreservedInFlight != 2 {
			t.Errorf("hearth concurrency while two run: %+v", v)
		}
		return nil
	})
	wg.Wait()
	for _, r := range results {
		if r.Status != http.StatusOK || r.FunctionError != "" {
			t.Errorf("a running invocation: %s", r)
		}
	}
	// Released: the next ones run.
	s.invokeOK(t, b, map[string]any{"action": "echo"}, invokeOpts{})
	v := concurrencyView(t, s)
	if v.AccountLimit != 2 || v.UnreservedInFlight != 0 {
		t.Errorf("hearth concurrency after: %+v", v)
	}
	for _, f := range v.Functions {
		if (f.FunctionName == a || f.FunctionName == b) && (f.InFlight != 0 || f.Throttles == 0 || f.ReservedConcurrentExecutions != nil) {
			t.Errorf("hearth concurrency: %s %+v, want none in flight, its throttles counted, no reservation", f.FunctionName, f)
		}
	}
	// hearth function get shows the same counters beside Lambda's answer.
	cmd := exec.Command(hearthBin, "function", "get", a, "--endpoint", s.url())
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret, "AWS_REGION="+region)
	printed, err := cmd.Output()
	if err != nil {
		t.Fatalf("hearth function get: %v\n%s", err, printed)
	}
	var got struct {
		HearthConcurrency struct{ InFlight, Throttles int }
	}
	if err := json.Unmarshal(printed, &got); err != nil || got.HearthConcurrency.Throttles == 0 {
		t.Errorf("hearth function get %s: %v\n%s", a, err, printed)
	}
}

type concurrencyCounts struct {
	AccountLimit, UnreservedConcurrentExecutions, UnreservedInFlight int
	Functions                                                        []struct {
		FunctionName                 string
		ReservedConcurrentExecutions *int
		InFlight                     int
		Throttles                    int64
	}
}

// concurrencyView runs `hearth concurrency --json` against s.
func concurrencyView(t *testing.T, s *server) concurrencyCounts {
	t.Helper()
	cmd := exec.Command(hearthBin, "concurrency", "--json", "--endpoint", s.url())
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret, "AWS_REGION="+region)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hearth concurrency: %v\n%s", err, out)
	}
	var v concurrencyCounts
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("hearth concurrency --json printed %s: %v", out, err)
	}
	return v
}
