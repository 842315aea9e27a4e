package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestInvokeErrors: function errors in each language's shape, init errors, timeouts,
// runtime crashes and OOM — each answered as Lambda answers it, and each followed by
// a working invocation.
func TestInvokeErrors(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)

		for _, k := range allKinds {
			t.Run("unhandled/"+k.short, func(t *testing.T) {
				name := deploy(t, s, k)
				marker := uniqueName("m")
				r := s.invoke(t, name, map[string]any{"action": k.errorAction, "marker": marker}, invokeOpts{tail: true})
				doc := wantFunctionError(t, r)
				if r.ExecutedVersion != "$LATEST" {
					t.Errorf("X-Amz-Executed-Version = %q, want $LATEST", r.ExecutedVersion)
				}
				switch k.short {
				case "py":
					if doc.ErrorType != "ValueError" || doc.ErrorMessage != "boom: "+marker {
						t.Errorf("Python error = %q %q, want ValueError %q", doc.ErrorType, doc.ErrorMessage, "boom: "+marker)
					}
					if len(doc.StackTrace) == 0 || !strings.Contains(strings.Join(doc.StackTrace, "\n"), "lambda_function.py") {
						t.Errorf("Python stackTrace = %q, want the frames of lambda_function.py", doc.StackTrace)
					}
				case "mjs", "cjs":
					msg := "boom: " + marker
					if k.short == "cjs" {
						msg = "callback failure: " + marker
					}
					if doc.ErrorType != "Error" || doc.ErrorMessage != msg {
						t.Errorf("Node error = %q %q, want Error %q", doc.ErrorType, doc.ErrorMessage, msg)
					}
					if len(doc.Trace) == 0 || doc.Trace[0] != "Error: "+msg {
						t.Errorf("Node trace = %q, want it to start with %q", doc.Trace, "Error: "+msg)
					}
				case "go":
					if doc.ErrorType != "errorString" || doc.ErrorMessage != "boom: "+marker {
						t.Errorf("Go error = %q %q, want errorString %q (aws-lambda-go's shape)", doc.ErrorType, doc.ErrorMessage, "boom: "+marker)
					}
				}
				rep := checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 128)
				if !rep.HasInit {
					t.Errorf("the first invocation has no Init Duration:\n%s", r.Log)
				}
				if k.short != "go" && !strings.Contains(r.Log, "boom: "+marker) && !strings.Contains(r.Log, "callback failure: "+marker) {
					t.Errorf("the runtime did not log the error, as AWS's runtimes do:\n%s", r.Log)
				}
				// A function error leaves the env usable: the next invocation is warm.
				if n := s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{}).countOf(t); n != 2 {
					t.Errorf("after a function error the next invocation saw count %d, want 2 (the same env)", n)
				}
			})
		}

		t.Run("import-error", func(t *testing.T) {
			name := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) {
				in.Code = &types.FunctionCode{ZipFile: testdataZip(t, "pyimporterror", nil)}
			})
			for i := 0; i < 2; i++ { // every invocation retries the init phase
				r := s.invoke(t, name, map[string]any{}, invokeOpts{tail: true})
				doc := wantFunctionError(t, r)
				want := "Unable to import module 'lambda_function': No module named 'hearth_e2e_no_such_module'"
				if doc.ErrorType != "Runtime.ImportModuleError" || doc.ErrorMessage != want {
					t.Errorf("invoke %d: error = %q %q, want Runtime.ImportModuleError %q", i+1, doc.ErrorType, doc.ErrorMessage, want)
				}
			}
		})

		for _, k := range []fnKind{kindPython, kindGo} {
			t.Run("timeout/"+k.short, func(t *testing.T) {
				name := deploy(t, s, k, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(1) })
				var warm struct {
					Count     int    `json:"count"`
					LogStream string `json:"log_stream"`
				}
				s.invokeOK(t, name, map[string]any{"action": "sleep", "seconds": 0}, invokeOpts{}).decode(t, &warm)
				if warm.Count != 1 {
					t.Fatalf("warm-up: count %d, want 1", warm.Count)
				}
				hadProcesses := len(s.envProcesses(warm.LogStream)) > 0
				r := s.invoke(t, name, map[string]any{"action": "sleep", "seconds": 3}, invokeOpts{tail: true})
				doc := wantFunctionError(t, r)
				if !strings.Contains(doc.ErrorMessage, "Task timed out after 1.00 seconds") {
					t.Errorf("timeout errorMessage = %q, want it to contain %q", doc.ErrorMessage, "Task timed out after 1.00 seconds")
				}
				if r.Elapsed < time.Second || r.Elapsed > 2500*time.Millisecond {
					t.Errorf("the timed-out invocation answered after %v, want about 1 s", r.Elapsed)
				}
				if !strings.Contains(r.Log, "Task timed out after 1.00 seconds") {
					t.Errorf("the Tail lacks the timeout line:\n%s", r.Log)
				}
				if rep := checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 128); rep.Duration < 1000 {
					t.Errorf("REPORT Duration %.2f ms for a 1 s timeout", rep.Duration)
				}
				s.wantEnvGone(t, warm.LogStream, hadProcesses, 3*time.Second)
				// The timed-out env is gone: the next invocation is a fresh env.
				r2 := s.invokeOK(t, name, map[string]any{"action": "sleep", "seconds": 0}, invokeOpts{tail: true})
				if n := r2.countOf(t); n != 1 {
					t.Errorf("after a timeout the next invocation saw count %d, want 1 (a fresh env)", n)
				}
				if rep := checkInvocationLog(t, r2.Log, r2.RequestID, "$LATEST", 128); !rep.HasInit {
					t.Errorf("after a timeout the next invocation was not a cold start:\n%s", r2.Log)
				}
			})
		}

		crash := []struct {
			kind   fnKind
			action map[string]any
			status string
		}{
			{kindGo, map[string]any{"action": "exit"}, "exit status 2"},
			{kindPython, map[string]any{"action": "exit", "code": 3}, "exit status 3"},
		}
		for _, c := range crash {
			t.Run("crash/"+c.kind.short, func(t *testing.T) {
				name := deploy(t, s, c.kind)
				s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{})
				r := s.invoke(t, name, c.action, invokeOpts{tail: true})
				doc := wantFunctionError(t, r)
				if doc.ErrorType != "Runtime.ExitError" {
					t.Errorf("errorType = %q, want Runtime.ExitError", doc.ErrorType)
				}
				want := "Runtime exited with error: " + c.status
				if !strings.Contains(doc.ErrorMessage, want) {
					t.Errorf("errorMessage = %q, want it to contain %q", doc.ErrorMessage, want)
				}
				if !strings.Contains(doc.ErrorMessage, r.RequestID) {
					t.Errorf("errorMessage = %q, want Lambda's \"RequestId: %s Error: …\"", doc.ErrorMessage, r.RequestID)
				}
				checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 128)
				wantFreshEnvAfter(t, s, name, r, "the runtime exited")
			})
		}

		for _, k := range []fnKind{kindPython, kindGo} {
			t.Run("oom/"+k.short, func(t *testing.T) {
				// At 128 MB the function has 0.072 of a CPU, and under gVisor every page it
				// touches is a fault the Sentry serves within that share: reaching the
				// limit can take longer than the usual timeout.
				name := deploy(t, s, k, func(in *lambda.CreateFunctionInput) {
					in.MemorySize = aws.Int32(128)
					in.Timeout = aws.Int32(120)
				})
				s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{})
				r := s.invoke(t, name, map[string]any{"action": "oom", "mb": 300}, invokeOpts{tail: true, timeout: 150 * time.Second})
				doc := wantFunctionError(t, r)
				// Read from the cgroup's OOM-kill counter, not guessed from the peak.
				if doc.ErrorType != "Runtime.OutOfMemory" {
					t.Errorf("errorType = %q (%q), want Runtime.OutOfMemory", doc.ErrorType, doc.ErrorMessage)
				}
				if want := "RequestId: " + r.RequestID + " Error: Runtime exited with error: signal: killed"; doc.ErrorMessage != want {
					t.Errorf("errorMessage = %q, want Lambda's %q", doc.ErrorMessage, want)
				}
				t.Logf("OOM answered after %v: %s: %s", r.Elapsed, doc.ErrorType, doc.ErrorMessage)
				rep := checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 128)
				if rep.MaxMemory < 100 {
					t.Errorf("REPORT Max Memory Used = %d MB after an OOM at 128 MB, want it near 128", rep.MaxMemory)
				}
				wantFreshEnvAfter(t, s, name, r, "the OOM kill")
			})
		}
	})
}

// TestInvokePayloadLimits: the 6 MB request and response limits, on both sides of them.
func TestInvokePayloadLimits(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		name := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(512) })
		pad := func(n int) []byte { // a JSON object of exactly n bytes
			const head, tail = `{"action":"big","bytes":2,"pad":"`, `"}`
			return []byte(head + strings.Repeat("p", n-len(head)-len(tail)) + tail)
		}

		// Just under 6 MB is accepted and reaches the function.
		r := s.invoke(t, name, nil, invokeOpts{body: pad(6*1024*1024 - 100)})
		if r.Status != http.StatusOK || r.FunctionError != "" || string(r.Body) != `"xx"` {
			t.Errorf("a request of 6 MB - 100 bytes: want 200 \"xx\", got %s", r)
		}

		// Over 6 MB: 413 RequestEntityTooLargeException (what AWS sends, not the
		// model's RequestTooLargeException), from the SDK's point of view too.
		_, err := s.client().Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: pad(6*1024*1024 + 1)})
		wantAPIError(t, err, "RequestEntityTooLargeException", http.StatusRequestEntityTooLarge, "Request must be smaller than 6291456 bytes for the InvokeFunction operation")

		// A response just under the limit comes back whole.
		r = s.invoke(t, name, map[string]any{"action": "big", "bytes": 6_000_000}, invokeOpts{})
		if r.Status != http.StatusOK || r.FunctionError != "" || len(r.Body) != 6_000_002 {
			t.Errorf("a response of 6,000,002 bytes: want 200 and all of it, got status %d, function error %q, %d bytes",
				r.Status, r.FunctionError, len(r.Body))
		}

		// Over the limit: 200 with Function.ResponseSizeTooLarge.
		r = s.invoke(t, name, map[string]any{"action": "big", "bytes": 7 << 20}, invokeOpts{})
		doc := wantFunctionError(t, r)
		if doc.ErrorType != "Function.ResponseSizeTooLarge" {
			t.Errorf("errorType = %q, want Function.ResponseSizeTooLarge", doc.ErrorType)
		}
		if want := "Response payload size exceeded maximum allowed payload size (6291556 bytes)."; doc.ErrorMessage != want {
			t.Errorf("errorMessage = %q, want %q", doc.ErrorMessage, want)
		}
		// The env keeps serving.
		s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{})
	})
}

// TestInvokeTypes: Event (202, and the function really runs), DryRun (204), and
// invocations of functions, versions and aliases that do not exist (404).
func TestInvokeTypes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		name := deploy(t, s, kindPython)

		marker := uniqueName("async")
		r := s.invoke(t, name, map[string]any{"action": "echo", "marker": marker}, invokeOpts{invocationType: "Event"})
		if r.Status != http.StatusAccepted || len(r.Body) != 0 || r.FunctionError != "" {
			t.Errorf("Event invoke: want 202 with an empty body, got %s", r)
		}
		if r.RequestID == "" {
			t.Errorf("Event invoke: no x-amzn-RequestId")
		}
		eventually(t, 20*time.Second, "the Event invocation's output in the function's logs", func() error {
			text := s.functionLogs(t, name)
			if !strings.Contains(text, "MARKER "+marker) {
				return fmt.Errorf("logs so far:\n%s", text)
			}
			if !strings.Contains(text, "START RequestId: "+r.RequestID+" ") || !strings.Contains(text, "REPORT RequestId: "+r.RequestID+"\t") {
				return fmt.Errorf("no START/REPORT of request %s in:\n%s", r.RequestID, text)
			}
			return nil
		})
		// Asynchronous payloads are limited to 1 MB (Lambda's limit since 2025;
		// 256 KB before).
		big := []byte(`{"pad":"` + strings.Repeat("p", 1<<20) + `"}`)
		_, err := s.client().Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeEvent, Payload: big})
		wantAPIError(t, err, "RequestEntityTooLargeException", http.StatusRequestEntityTooLarge,
			fmt.Sprintf("%d byte payload is too large for the Event invocation type (limit 1048576 bytes)", len(big)))

		// DryRun: 204, nothing runs.
		dry := uniqueName("dry")
		r = s.invoke(t, name, map[string]any{"action": "echo", "marker": dry}, invokeOpts{invocationType: "DryRun"})
		if r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Errorf("DryRun: want 204 with an empty body, got %s", r)
		}
		out, err := s.client().Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeDryRun})
		if err != nil || out.StatusCode != http.StatusNoContent {
			t.Errorf("SDK DryRun: status %v, err %v; want 204", out, err)
		}

		// Missing function, version, alias: 404 ResourceNotFoundException.
		c := s.client()
		_, err = c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(uniqueName("no-such-fn")), Payload: []byte(`{}`)})
		wantAPIError(t, err, "ResourceNotFoundException", http.StatusNotFound, "Function not found")
		_, err = c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("7"), Payload: []byte(`{}`)})
		wantAPIError(t, err, "ResourceNotFoundException", http.StatusNotFound)
		_, err = c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("nope"), Payload: []byte(`{}`)})
		wantAPIError(t, err, "ResourceNotFoundException", http.StatusNotFound)
		_, err = c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(uniqueName("no-such-fn")), InvocationType: types.InvocationTypeDryRun})
		wantAPIError(t, err, "ResourceNotFoundException", http.StatusNotFound)

		// The DryRun never ran the function.
		time.Sleep(200 * time.Millisecond)
		if text := s.functionLogs(t, name); strings.Contains(text, dry) {
			t.Errorf("DryRun ran the function:\n%s", text)
		}
	})
}

// wantFreshEnvAfter invokes name right after the invocation failed ended its env,
// and requires a fresh env to answer (Lambda never hands an invocation to an env
// whose runtime died).
func wantFreshEnvAfter(t *testing.T, s *server, name string, failed invokeResult, what string) {
	t.Helper()
	r := s.invoke(t, name, map[string]any{"action": "echo"}, invokeOpts{tail: true})
	if r.Status != http.StatusOK || r.FunctionError != "" {
		t.Fatalf("the invocation right after %s (request %s) failed: %s\n"+
			"it was handed to the dead env of request %s instead of a fresh one", what, r.RequestID, r, failed.RequestID)
	}
	if n := r.countOf(t); n != 1 {
		t.Errorf("after %s the next invocation saw count %d, want 1 (a fresh env)", what, n)
	}
	if rep := checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 128); !rep.HasInit {
		t.Errorf("after %s the next invocation was not a cold start:\n%s", what, r.Log)
	}
}
