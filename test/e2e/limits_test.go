package e2e

// Lambda's concurrency limits as a client sees them, through the SDK with its
// retries off (an SDK retries 429 by default, which would hide them): a function's
// reservation caps its executions in flight, and the scaling rate caps how fast it
// gets new execution environments — both with 429 TooManyRequestsException, the
// Reason that says which, and (for the rate) a Retry-After header. The AWS CLI
// shows the same throttle.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// sdkOutcome is one SDK Invoke's answer.
type sdkOutcome struct {
	out     *lambda.InvokeOutput
	err     error
	elapsed time.Duration
}

// throttled is the TooManyRequestsException of err, if that is what it is.
func throttled(err error) *types.TooManyRequestsException {
	var tm *types.TooManyRequestsException
	if errors.As(err, &tm) {
		return tm
	}
	return nil
}

// invokeAtOnce sends n RequestResponse invokes of fn with payload through the SDK
// (retries off), released together; each outcome is delivered on the channel as
// soon as it is known, and the slice has them all once the channel is closed.
func invokeAtOnce(t testing.TB, c *lambda.Client, fn string, payload string, n int) (<-chan int, []sdkOutcome) {
	t.Helper()
	results := make([]sdkOutcome, n)
	done := make(chan int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
			defer cancel()
			<-start
			t0 := time.Now()
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(payload)})
			results[i] = sdkOutcome{out, err, time.Since(t0)}
			done <- i
		}()
	}
	close(start)
	go func() {
		wg.Wait()
		close(done)
	}()
	return done, results
}

// TestReservedTwoOfSix: a function reserved at 2 runs two of six simultaneous
// invocations; the other four get 429 ReservedFunctionConcurrentInvocationLimitExceeded
// at once, without waiting for a slot.
func TestReservedTwoOfSix(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	s := startSandboxServer(t, "namespace")
	c := s.client() // retries off
	fn := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(30) })
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(2)})

	const sleep = 6
	done, results := invokeAtOnce(t, c, fn, fmt.Sprintf(`{"action":"sleep","seconds":%d}`, sleep), 6)
	for range done {
	}
	ok, limited := 0, 0
	for i, r := range results {
		switch tm := throttled(r.err); {
		case r.err == nil:
			if r.out.StatusCode != 200 || r.out.FunctionError != nil {
				t.Errorf("invocation %d: status %d, function error %q: %s", i, r.out.StatusCode, deref(r.out.FunctionError), r.out.Payload)
			}
			ok++
		case tm != nil:
			limited++
			if tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded || deref(tm.Type) != "User" || httpStatus(r.err) != 429 {
				t.Errorf("invocation %d throttled with status %d, Reason %q, Type %q: %v", i, httpStatus(r.err), tm.Reason, deref(tm.Type), r.err)
			}
			if r.elapsed >= sleep*time.Second {
				t.Errorf("invocation %d was throttled after %v: it waited for a slot instead of being refused at once", i, r.elapsed)
			}
		default:
			t.Errorf("invocation %d: %v", i, r.err)
		}
	}
	if ok != 2 || limited != 4 {
		t.Errorf("six simultaneous invocations of a function reserved at 2: %d ran and %d were throttled, want 2 and 4", ok, limited)
	}
	v := hearthConcurrency(t, s)
	if f := v.function(fn); f == nil || f.InFlight != 0 || f.Throttles != 4 || f.ReservedConcurrentExecutions == nil || *f.ReservedConcurrentExecutions != 2 {
		t.Errorf("hearth concurrency --json after: %s; want reserved 2, none in flight, 4 throttles", jsonOf(t, f))
	}
	// The slots are back: the next invocations run.
	done, results = invokeAtOnce(t, c, fn, `{"action":"echo"}`, 2)
	for range done {
	}
	for i, r := range results {
		if r.err != nil {
			t.Errorf("invocation %d after the burst: %v", i, r.err)
		}
	}
}

// TestScalingRate: with --scaling-rate 2, a function gets two new execution
// environments per 10 s; of three simultaneous cold invocations two run and the
// third gets 429 FunctionInvocationRateLimitExceeded with a Retry-After header.
// The AWS CLI, invoked while the rate is spent, reports TooManyRequestsException.
func TestScalingRate(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	s := startSandboxServer(t, "namespace", "--scaling-rate", "2")
	c := s.client() // retries off

	// Each attempt takes a fresh function (a full bucket of 2): three invocations at
	// once, then the CLI while the two that run hold their envs. The bucket refills
	// one env in 5 s: a CLI slower than that to send its request gets an env, and
	// the attempt is repeated.
	const sleep = 10
	for attempt := 1; ; attempt++ {
		fn := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(30) })
		done, results := invokeAtOnce(t, c, fn, fmt.Sprintf(`{"action":"sleep","seconds":%d}`, sleep), 3)
		var first *types.TooManyRequestsException
		var firstAt time.Time
		for i := range done {
			if tm := throttled(results[i].err); tm != nil && first == nil {
				first, firstAt = tm, time.Now()
				break
			}
		}
		var cliOut string
		var cliErr error
		var cliTook, cliAfter time.Duration
		if first != nil {
			cliAfter = time.Since(firstAt)
			cliOut, cliTook, cliErr = awsCLIInvoke(t, s, fn, `{"action":"echo"}`)
		}
		for range done {
		}

		ok, limited := 0, 0
		for i, r := range results {
			switch tm := throttled(r.err); {
			case r.err == nil:
				if r.out.StatusCode != 200 || r.out.FunctionError != nil {
					t.Errorf("invocation %d: status %d, function error %q: %s", i, r.out.StatusCode, deref(r.out.FunctionError), r.out.Payload)
				}
				ok++
			case tm != nil:
				limited++
				if tm.Reason != types.ThrottleReasonFunctionInvocationRateLimitExceeded || deref(tm.Type) != "User" || httpStatus(r.err) != 429 {
					t.Errorf("invocation %d throttled with status %d, Reason %q, Type %q: %v", i, httpStatus(r.err), tm.Reason, deref(tm.Type), r.err)
				}
				var re *awshttp.ResponseError
				after := ""
				if errors.As(r.err, &re) && re.Response != nil {
					after = re.Response.Header.Get("Retry-After")
				}
				if n, err := strconv.Atoi(after); err != nil || n < 1 || n > 10 {
					t.Errorf("invocation %d throttled with Retry-After %q, want whole seconds until an env is free (1–10 at 2 per 10 s)", i, after)
				}
				if tm.RetryAfterSeconds != nil && *tm.RetryAfterSeconds != after {
					t.Errorf("the SDK read retryAfterSeconds %q, the header says %q", *tm.RetryAfterSeconds, after)
				}
				if r.elapsed >= sleep*time.Second {
					t.Errorf("invocation %d was throttled after %v, not at once", i, r.elapsed)
				}
			default:
				t.Errorf("invocation %d: %v", i, r.err)
			}
		}
		if ok != 2 || limited != 1 {
			t.Fatalf("three simultaneous cold invocations at --scaling-rate 2: %d ran and %d were throttled, want 2 and 1", ok, limited)
		}
		if cliErr != nil {
			if !strings.Contains(cliOut, "TooManyRequestsException") || !strings.Contains(cliOut, "Rate Exceeded") {
				t.Errorf("aws lambda invoke while the scaling rate is spent: %v\n%s\nwant TooManyRequestsException", cliErr, cliOut)
			}
			t.Logf("the AWS CLI, started %v after the SDK's throttle (it took %v): %s", cliAfter.Round(time.Millisecond), cliTook.Round(time.Millisecond), strings.TrimSpace(cliOut))
			break
		}
		if attempt == 3 {
			t.Fatalf("aws lambda invoke was never throttled in %d attempts; the last one answered (it took %v): %s", attempt, cliTook, cliOut)
		}
		t.Logf("attempt %d: the CLI's invoke ran (it took %v, the bucket refills an env in 5 s); again with a fresh function", attempt, cliTook)
	}

	// Warm envs are not new envs: once the sleepers are done, their envs serve
	// without the rate.
	fn := deploy(t, s, kindPython)
	for i := range 5 {
		r := s.invoke(t, fn, map[string]any{"action": "echo"}, invokeOpts{})
		if r.Status != 200 {
			t.Fatalf("sequential invocation %d of one function (one warm env): %s", i, r)
		}
	}
}

// awsCLIInvoke runs `aws lambda invoke` against s with one attempt and returns its
// combined output and exit error.
func awsCLIInvoke(t testing.TB, s *server, fn, payload string) (string, time.Duration, error) {
	t.Helper()
	awsBin := "/usr/bin/aws"
	if _, err := os.Stat(awsBin); err != nil {
		p, lerr := exec.LookPath("aws")
		if lerr != nil {
			t.Skipf("the AWS CLI is not installed (/usr/bin/aws): %v", err)
		}
		awsBin = p
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, awsBin, "lambda", "invoke", "--endpoint-url", s.url(),
		"--function-name", fn, "--cli-binary-format", "raw-in-base64-out", "--payload", payload,
		filepath.Join(dir, "out.json"))
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret,
		"AWS_REGION="+region, "AWS_DEFAULT_REGION="+region, "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "HOME="+dir)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	return string(out), time.Since(t0), err
}
