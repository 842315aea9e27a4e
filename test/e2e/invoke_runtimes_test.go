package e2e

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// echoResponse is what every test function's "echo" action answers.
type echoResponse struct {
	Event map[string]any `json:"event"`
	Count int            `json:"count"`
	Ctx   struct {
		RequestID       string            `json:"request_id"`
		FunctionName    string            `json:"function_name"`
		FunctionVersion string            `json:"function_version"`
		InvokedArn      string            `json:"invoked_arn"`
		MemoryLimit     string            `json:"memory_limit"`
		LogGroup        string            `json:"log_group"`
		LogStream       string            `json:"log_stream"`
		RemainingMs     float64           `json:"remaining_ms"`
		ClientCustom    map[string]string `json:"client_custom"`
	} `json:"ctx"`
	Env map[string]string `json:"env"`
}

// echoWant is what one echo invocation must show.
type echoWant struct {
	name       string
	version    string // executed version
	invokedArn string
	count      int
	memoryMB   int
	timeoutSec int
	cold       bool
	custom     map[string]string // client context's custom part; nil = no client context
	marker     string
}

var reLogStream = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[([^\]]+)\][0-9a-f]{16,}$`)

// checkEcho checks the answer, headers, context, environment and Tail log of one echo
// invocation, and returns the answer.
func checkEcho(t testing.TB, k fnKind, r invokeResult, payload map[string]any, w echoWant) echoResponse {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.Status, r)
	}
	if r.FunctionError != "" {
		t.Fatalf("X-Amz-Function-Error %q on a successful invocation: %s", r.FunctionError, r)
	}
	if r.ExecutedVersion != w.version {
		t.Errorf("X-Amz-Executed-Version = %q, want %q", r.ExecutedVersion, w.version)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got echoResponse
	r.decode(t, &got)
	if !reflect.DeepEqual(got.Event, payload) {
		t.Errorf("the function saw event %s, want the payload %s", jsonOf(t, got.Event), jsonOf(t, payload))
	}
	if got.Count != w.count {
		t.Errorf("module-scope counter = %d, want %d (cold=%v)", got.Count, w.count, w.cold)
	}
	c := got.Ctx
	if r.RequestID == "" {
		t.Errorf("no x-amzn-RequestId header")
	}
	if c.RequestID != r.RequestID {
		t.Errorf("context aws_request_id = %q, want the x-amzn-RequestId %q", c.RequestID, r.RequestID)
	}
	if c.FunctionName != w.name {
		t.Errorf("context function_name = %q, want %q", c.FunctionName, w.name)
	}
	if c.FunctionVersion != w.version {
		t.Errorf("context function_version = %q, want %q", c.FunctionVersion, w.version)
	}
	if c.InvokedArn != w.invokedArn {
		t.Errorf("context invoked_function_arn = %q, want %q", c.InvokedArn, w.invokedArn)
	}
	if c.MemoryLimit != fmt.Sprint(w.memoryMB) {
		t.Errorf("context memory_limit_in_mb = %q, want %d", c.MemoryLimit, w.memoryMB)
	}
	if c.LogGroup != "/aws/lambda/"+w.name {
		t.Errorf("context log_group_name = %q, want /aws/lambda/%s", c.LogGroup, w.name)
	}
	if m := reLogStream.FindStringSubmatch(c.LogStream); m == nil || m[1] != w.version {
		t.Errorf("context log_stream_name = %q, want YYYY/MM/DD/[%s]<env id>", c.LogStream, w.version)
	}
	if c.RemainingMs <= 0 || c.RemainingMs > float64(w.timeoutSec*1000) {
		t.Errorf("context remaining time = %v ms, want > 0 and ≤ %d", c.RemainingMs, w.timeoutSec*1000)
	}
	if !reflect.DeepEqual(c.ClientCustom, w.custom) {
		t.Errorf("context client_context.custom = %v, want %v", c.ClientCustom, w.custom)
	}

	// The environment Lambda sets, and the function's own variables.
	wantEnv := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        w.name,
		"AWS_LAMBDA_FUNCTION_VERSION":     w.version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": fmt.Sprint(w.memoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + w.name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      c.LogStream,
		"AWS_REGION":                      region,
		"_HANDLER":                        k.handler,
		"LAMBDA_TASK_ROOT":                "/var/task",
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
		"AWS_LAMBDA_RUNTIME_API":          "127.0.0.1:9001",
		"TZ":                              ":UTC",
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH":                 "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
		"MY_VAR":                          "my-value",
		"OTHER_VAR":                       "with spaces = and \"quotes\"",
	}
	if k.runtime != types.RuntimeProvidedal2023 {
		// AWS documents AWS_EXECUTION_ENV for managed runtimes; OS-only runtimes
		// (provided*) are not checked here.
		wantEnv["AWS_EXECUTION_ENV"] = "AWS_Lambda_" + string(k.runtime)
	}
	for key, want := range wantEnv {
		if got, ok := got.Env[key]; !ok {
			t.Errorf("env %s is not set inside the function, want %q", key, want)
		} else if got != want {
			t.Errorf("env %s = %q inside the function, want %q", key, got, want)
		}
	}

	// LogType Tail: START, the function's output, END, REPORT (Init Duration on a
	// cold start only).
	if r.Log == "" {
		t.Errorf("no X-Amz-Log-Result with LogType Tail")
		return got
	}
	rep := checkInvocationLog(t, r.Log, r.RequestID, w.version, w.memoryMB)
	if rep.HasInit != w.cold {
		t.Errorf("REPORT has Init Duration = %v, want %v (cold start = %v):\n%s", rep.HasInit, w.cold, w.cold, r.Log)
	}
	if w.marker != "" && !strings.Contains(r.Log, "MARKER "+w.marker) {
		t.Errorf("the Tail log lacks the function's output %q:\n%s", "MARKER "+w.marker, r.Log)
	}
	if w.marker != "" {
		si, mi := strings.Index(r.Log, "START RequestId: "+r.RequestID), strings.Index(r.Log, "MARKER "+w.marker)
		ei := strings.Index(r.Log, "END RequestId: "+r.RequestID)
		if si >= 0 && mi >= 0 && ei >= 0 && !(si < mi && mi < ei) {
			t.Errorf("the function's output is not between START and END:\n%s", r.Log)
		}
	}
	return got
}

// TestInvokeRuntimes runs a Python, two Node (ES module async, CommonJS callback) and
// an aws-lambda-go function on each driver: cold then warm, payload echo, context,
// environment, headers, Tail logs, client context, and the three qualifier forms
// (version, alias, qualified alias ARN).
func TestInvokeRuntimes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		for _, k := range allKinds {
			t.Run(k.short, func(t *testing.T) { testRuntime(t, s, k) })
		}
	})
}

func testRuntime(t *testing.T, s *server, k fnKind) {
	const memory, timeout = 256, 5
	name := deploy(t, s, k, func(in *lambda.CreateFunctionInput) {
		in.MemorySize = aws.Int32(memory)
		in.Timeout = aws.Int32(timeout)
		in.Environment = &types.Environment{Variables: map[string]string{
			"MY_VAR": "my-value", "OTHER_VAR": "with spaces = and \"quotes\"",
		}}
	})
	c := s.client()
	v1 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if aws.ToString(v1.Version) != "1" {
		t.Fatalf("PublishVersion = %q, want 1", aws.ToString(v1.Version))
	}
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	arn := functionArn(name)
	want := func(version, invoked string, count int, cold bool) echoWant {
		return echoWant{name: name, version: version, invokedArn: invoked, count: count, memoryMB: memory, timeoutSec: timeout, cold: cold}
	}

	// Cold, then warm: the module-scope counter proves the same env answered.
	p1 := map[string]any{"action": "echo", "marker": uniqueName("cold"), "n": 1.0, "nested": map[string]any{"list": []any{1.0, "two", nil, true}}, "unicode": "héllo ✓"}
	r1 := s.invoke(t, name, p1, invokeOpts{tail: true})
	w1 := want("$LATEST", arn, 1, true)
	w1.marker = p1["marker"].(string)
	e1 := checkEcho(t, k, r1, p1, w1)

	custom := map[string]string{"tenant": "t-42", "trace": "abc"}
	p2 := map[string]any{"action": "echo", "marker": uniqueName("warm")}
	r2 := s.invoke(t, name, p2, invokeOpts{tail: true, clientContext: clientContextB64(t, custom)})
	w2 := want("$LATEST", arn, 2, false)
	w2.marker, w2.custom = p2["marker"].(string), custom
	e2 := checkEcho(t, k, r2, p2, w2)
	if e1.Ctx.LogStream != e2.Ctx.LogStream {
		t.Errorf("the warm invocation ran in another env: log streams %q then %q", e1.Ctx.LogStream, e2.Ctx.LogStream)
	}
	if r1.RequestID == r2.RequestID {
		t.Errorf("two invocations share the request id %s", r1.RequestID)
	}

	// Qualifier = a version: that version's env (a new one), and its ARN.
	p3 := map[string]any{"action": "echo"}
	r3 := s.invoke(t, name, p3, invokeOpts{qualifier: "1", tail: true})
	e3 := checkEcho(t, k, r3, p3, want("1", arn+":1", 1, true))

	// Qualifier = an alias: version 1 runs, in version 1's warm env; the context
	// carries the ARN as invoked.
	r4 := s.invoke(t, name, p3, invokeOpts{qualifier: "live", tail: true})
	e4 := checkEcho(t, k, r4, p3, want("1", arn+":live", 2, false))

	// The qualified alias ARN as the function name.
	r5 := s.invoke(t, arn+":live", p3, invokeOpts{tail: true})
	e5 := checkEcho(t, k, r5, p3, want("1", arn+":live", 3, false))
	if e3.Ctx.LogStream != e4.Ctx.LogStream || e4.Ctx.LogStream != e5.Ctx.LogStream {
		t.Errorf("version 1 invoked by number, alias and alias ARN ran in different envs: %q, %q, %q",
			e3.Ctx.LogStream, e4.Ctx.LogStream, e5.Ctx.LogStream)
	}
	if e3.Ctx.LogStream == e1.Ctx.LogStream {
		t.Errorf("$LATEST and version 1 share the env %q", e1.Ctx.LogStream)
	}

	// The unqualified ARN, and the SDK's own Invoke.
	r6 := s.invoke(t, arn, p3, invokeOpts{tail: true})
	checkEcho(t, k, r6, p3, want("$LATEST", arn, 3, false))
	out, err := c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"action":"echo"}`), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatalf("SDK Invoke: %v", err)
	}
	if out.StatusCode != 200 || aws.ToString(out.ExecutedVersion) != "$LATEST" || out.FunctionError != nil || aws.ToString(out.LogResult) == "" {
		t.Errorf("SDK Invoke: status %d, executed version %q, function error %v, log result %d bytes; want 200, $LATEST, none, a tail",
			out.StatusCode, aws.ToString(out.ExecutedVersion), out.FunctionError, len(aws.ToString(out.LogResult)))
	}
}

// TestInvokeAliasWeights routes an alias between two versions by weight.
func TestInvokeAliasWeights(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		c := s.client()
		name := deploy(t, s, kindPython)
		call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
		call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
			Environment: &types.Environment{Variables: map[string]string{"MY_VAR": "v2"}}})
		waitActive(t, s, name)
		v2 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
		if aws.ToString(v2.Version) != "2" {
			t.Fatalf("second PublishVersion = %q, want 2", aws.ToString(v2.Version))
		}
		const weight2 = 0.3
		call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("canary"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": weight2}}})

		const n = 60
		counts := map[string]int{}
		for i := 0; i < n; i++ {
			r := s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{qualifier: "canary"})
			var e echoResponse
			r.decode(t, &e)
			counts[r.ExecutedVersion]++
			if e.Ctx.FunctionVersion != r.ExecutedVersion {
				t.Fatalf("X-Amz-Executed-Version %q but the function ran as version %q", r.ExecutedVersion, e.Ctx.FunctionVersion)
			}
			wantVar := map[string]string{"1": "", "2": "v2"}[r.ExecutedVersion]
			if e.Env["MY_VAR"] != wantVar {
				t.Fatalf("version %s ran with MY_VAR=%q, want %q", r.ExecutedVersion, e.Env["MY_VAR"], wantVar)
			}
			if e.Ctx.InvokedArn != functionArn(name)+":canary" {
				t.Fatalf("invoked ARN %q, want the alias ARN", e.Ctx.InvokedArn)
			}
		}
		t.Logf("%d invocations of alias canary (version 2 weight %.1f): %v", n, weight2, counts)
		if counts["1"]+counts["2"] != n {
			t.Fatalf("executed versions %v, want only 1 and 2", counts)
		}
		// Binomial(60, 0.3): mean 18, sd 3.5; 6..32 is beyond 3.4 sd either side.
		if counts["2"] < 6 || counts["2"] > 32 {
			t.Errorf("version 2 ran %d of %d times with weight %.1f; want about %d", counts["2"], n, weight2, int(n*weight2))
		}
	})
}

// TestInvokeNewCodeNewEnv: new code means a new env, and the new code answers.
func TestInvokeNewCodeNewEnv(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		name := deploy(t, s, kindPython)
		r := s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{})
		if n := r.countOf(t); n != 1 {
			t.Fatalf("first invoke: count %d, want 1", n)
		}
		if n := s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{}).countOf(t); n != 2 {
			t.Fatalf("warm invoke: count %d, want 2", n)
		}
		newCode := testdataZip(t, "python", map[string]string{"lambda_function.py": "def lambda_handler(event, context):\n    print('NEW CODE')\n    return {'code': 'new', 'count': 1}\n"})
		call(t, s.client().UpdateFunctionCode, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: newCode})
		waitActive(t, s, name)
		r = s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{tail: true})
		var got map[string]any
		r.decode(t, &got)
		if got["code"] != "new" {
			t.Fatalf("after UpdateFunctionCode the old code answered: %s", r)
		}
		rep := checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 128)
		if !rep.HasInit {
			t.Errorf("the first invoke after UpdateFunctionCode was not a cold start (no Init Duration):\n%s", r.Log)
		}
		if !strings.Contains(r.Log, "NEW CODE") {
			t.Errorf("the Tail lacks the new code's output:\n%s", r.Log)
		}

		// New configuration, same code: a new env too.
		call(t, s.client().UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), MemorySize: aws.Int32(192)})
		waitActive(t, s, name)
		r = s.invokeOK(t, name, map[string]any{}, invokeOpts{tail: true})
		rep = checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 192)
		if !rep.HasInit {
			t.Errorf("the first invoke after UpdateFunctionConfiguration was not a cold start:\n%s", r.Log)
		}
	})
}
