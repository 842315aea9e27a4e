package e2e

// Provisioned concurrency end to end: PutProvisionedConcurrencyConfig answers 202
// IN_PROGRESS and the host initialises the envs ahead of any invocation
// (AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency, no Init Duration in
// their REPORT); invocations of the alias or its version take them first and spill
// over to on-demand envs; $LATEST is always on-demand; Delete drains them; an
// alias's config follows the alias; a config whose init fails is FAILED; configs
// survive kill -9; the host refuses a config it cannot hold. The errors and the
// account's arithmetic are Lambda's (LocalStack's AWS-recorded snapshots, see
// shared/reference/lambda-async-concurrency.md §1.5–1.6).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// pcWrapper is a handler beside testdata/python's: it holds the invocation for
// event["hold"] seconds, then answers what the echo action answers (the env's
// AWS_LAMBDA_INITIALIZATION_TYPE and log stream among it).
const pcWrapper = `import time

import lambda_function


def handler(event, context):
    time.sleep(event.get("hold", 0))
    return lambda_function.lambda_handler({"action": "echo"}, context)
`

var (
	kindPC = fnKind{short: "pc", runtime: types.RuntimePython312, handler: "pc.handler",
		zip: func(t testing.TB) []byte { return testdataZip(t, "python", map[string]string{"pc.py": pcWrapper}) }}
	kindPCInitFails = fnKind{short: "pcfail", runtime: types.RuntimePython312, handler: "lambda_function.lambda_handler",
		zip: func(t testing.TB) []byte { return testdataZip(t, "pyimporterror", nil) }}
)

const (
	initProvisioned = "provisioned-concurrency"
	initOnDemand    = "on-demand"
)

// pcAnswer is what kindPC answers.
type pcAnswer struct {
	Ctx struct {
		LogStream       string `json:"log_stream"`
		FunctionVersion string `json:"function_version"`
	} `json:"ctx"`
	Env map[string]string `json:"env"`
}

func (a pcAnswer) initType() string { return a.Env["AWS_LAMBDA_INITIALIZATION_TYPE"] }

// pcInvoke invokes a kindPC function with the log's tail; it returns the answer
// and the invocation's REPORT.
func pcInvoke(t testing.TB, s *server, fn, qualifier, version string, hold float64) (pcAnswer, reportLine, invokeResult) {
	t.Helper()
	r := s.invokeOK(t, fn, map[string]any{"hold": hold}, invokeOpts{qualifier: qualifier, tail: true})
	return pcCheck(t, r, version)
}

func pcCheck(t testing.TB, r invokeResult, version string) (pcAnswer, reportLine, invokeResult) {
	t.Helper()
	var a pcAnswer
	r.decode(t, &a)
	if r.ExecutedVersion != version || a.Ctx.FunctionVersion != version {
		t.Errorf("executed version %q (function_version %q), want %q", r.ExecutedVersion, a.Ctx.FunctionVersion, version)
	}
	rep := checkInvocationLog(t, r.Log, r.RequestID, version, 128)
	return a, rep, r
}

// publishVersion publishes fn's code and configuration as it is now.
func publishVersion(t testing.TB, c *lambda.Client, fn string) string {
	t.Helper()
	return deref(call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(fn)}).Version)
}

func createAlias(t testing.TB, c *lambda.Client, fn, alias, version string) {
	t.Helper()
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(fn), Name: aws.String(alias), FunctionVersion: aws.String(version)})
}

func putPC(c *lambda.Client, t testing.TB, fn, qualifier string, n int32) (*lambda.PutProvisionedConcurrencyConfigOutput, error) {
	return c.PutProvisionedConcurrencyConfig(ctxT(t), &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String(fn), Qualifier: aws.String(qualifier), ProvisionedConcurrentExecutions: aws.Int32(n)})
}

func getPC(c *lambda.Client, t testing.TB, fn, qualifier string) (*lambda.GetProvisionedConcurrencyConfigOutput, error) {
	return c.GetProvisionedConcurrencyConfig(ctxT(t), &lambda.GetProvisionedConcurrencyConfigInput{
		FunctionName: aws.String(fn), Qualifier: aws.String(qualifier)})
}

func deletePC(c *lambda.Client, t testing.TB, fn, qualifier string) error {
	_, err := c.DeleteProvisionedConcurrencyConfig(ctxT(t), &lambda.DeleteProvisionedConcurrencyConfigInput{
		FunctionName: aws.String(fn), Qualifier: aws.String(qualifier)})
	return err
}

// wantPutAnswer checks a Put's answer: IN_PROGRESS with nothing allocated yet.
func wantPutAnswer(t testing.TB, out *lambda.PutProvisionedConcurrencyConfigOutput, n int32) {
	t.Helper()
	if out.Status != types.ProvisionedConcurrencyStatusEnumInProgress || deref(out.RequestedProvisionedConcurrentExecutions) != n ||
		deref(out.AllocatedProvisionedConcurrentExecutions) != 0 || deref(out.AvailableProvisionedConcurrentExecutions) != 0 ||
		deref(out.LastModified) == "" {
		t.Errorf("PutProvisionedConcurrencyConfig(%d) answered %s, want IN_PROGRESS, Requested %d, Allocated 0, Available 0 and LastModified", n, jsonOf(t, out), n)
	}
}

// waitPC waits until the config of fn:qualifier has the status, and returns it.
func waitPC(t testing.TB, c *lambda.Client, fn, qualifier string, status types.ProvisionedConcurrencyStatusEnum, timeout time.Duration) *lambda.GetProvisionedConcurrencyConfigOutput {
	t.Helper()
	var got *lambda.GetProvisionedConcurrencyConfigOutput
	eventually(t, timeout, fmt.Sprintf("%s:%s %s", fn, qualifier, status), func() error {
		out, err := getPC(c, t, fn, qualifier)
		if err != nil {
			return err
		}
		if out.Status != status {
			return fmt.Errorf("status %s: %s", out.Status, jsonOf(t, out))
		}
		got = out
		return nil
	})
	return got
}

// wantReady checks a READY config: everything requested allocated and available.
func wantReady(t testing.TB, out *lambda.GetProvisionedConcurrencyConfigOutput, n int32) {
	t.Helper()
	if out.Status != types.ProvisionedConcurrencyStatusEnumReady || deref(out.RequestedProvisionedConcurrentExecutions) != n ||
		deref(out.AllocatedProvisionedConcurrentExecutions) != n || deref(out.AvailableProvisionedConcurrentExecutions) != n ||
		deref(out.StatusReason) != "" || deref(out.LastModified) == "" {
		t.Errorf("GetProvisionedConcurrencyConfig = %s, want READY with %d requested, allocated and available", jsonOf(t, out), n)
	}
}

// provView is `hearth concurrency --json` with the provisioned fields.
type provView struct {
	AccountLimit, UnreservedConcurrentExecutions, UnreservedInFlight int
	Functions                                                        []provViewFunction
}

type provViewFunction struct {
	FunctionName                 string
	ReservedConcurrentExecutions *int
	Provisioned                  *struct {
		Requested, Allocated, Available, Busy int
		Configs                               []provViewConfig
	}
	InFlight, ProvisionedInFlight int
	Throttles                     int64
}

type provViewConfig struct {
	Qualifier, Status, StatusReason       string
	Requested, Allocated, Available, Busy int
}

func hearthConcurrency(t testing.TB, s *server) provView {
	t.Helper()
	cmd := exec.Command(hearthBin, "concurrency", "--json", "--endpoint", s.url())
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret, "AWS_REGION="+region)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hearth concurrency --json: %v\n%s", err, out)
	}
	var v provView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("hearth concurrency --json printed %s: %v", out, err)
	}
	return v
}

func (v provView) function(name string) *provViewFunction {
	for i := range v.Functions {
		if v.Functions[i].FunctionName == name {
			return &v.Functions[i]
		}
	}
	return nil
}

// TestProvisionedConcurrency: an alias's provisioned envs are initialised ahead,
// serve its invocations and its version's without a cold start, spill over to
// on-demand envs when all are busy, never serve $LATEST, and go with the config.
func TestProvisionedConcurrency(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := startSandboxServer(t, driver)
		c := s.client()
		fn := deploy(t, s, kindPC, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(30) })
		if v := publishVersion(t, c, fn); v != "1" {
			t.Fatalf("PublishVersion answered %q", v)
		}
		createAlias(t, c, fn, "live", "1")

		// Put answers 202, IN_PROGRESS, nothing allocated (raw: the SDK hides the status).
		r := s.raw(t, http.MethodPut, "/2019-09-30/functions/"+url.PathEscape(fn)+"/provisioned-concurrency?Qualifier=live",
			[]byte(`{"ProvisionedConcurrentExecutions":3}`), rawOptions{})
		var put struct {
			RequestedProvisionedConcurrentExecutions, AvailableProvisionedConcurrentExecutions, AllocatedProvisionedConcurrentExecutions *int
			Status, StatusReason, LastModified                                                                                           string
		}
		if err := json.Unmarshal(r.Body, &put); err != nil {
			t.Fatalf("PutProvisionedConcurrencyConfig: %d %s: %v", r.Status, r.Body, err)
		}
		if r.Status != http.StatusAccepted || deref(put.RequestedProvisionedConcurrentExecutions) != 3 ||
			put.AvailableProvisionedConcurrentExecutions == nil || *put.AvailableProvisionedConcurrentExecutions != 0 ||
			put.AllocatedProvisionedConcurrentExecutions == nil || *put.AllocatedProvisionedConcurrentExecutions != 0 ||
			put.Status != "IN_PROGRESS" || put.LastModified == "" {
			t.Errorf("PutProvisionedConcurrencyConfig answered %d %s; want 202 {Requested 3, Available 0, Allocated 0, IN_PROGRESS, LastModified}", r.Status, r.Body)
		}
		ready := waitPC(t, c, fn, "live", types.ProvisionedConcurrencyStatusEnumReady, 120*time.Second)
		wantReady(t, ready, 3)
		if ready.LastModified == nil || *ready.LastModified != put.LastModified {
			t.Errorf("Get's LastModified %q, Put's %q", deref(ready.LastModified), put.LastModified)
		}

		// Three invocations at once take the three provisioned envs; a fourth, while
		// they run, spills over to a cold on-demand env.
		const hold = 4
		type outcome struct {
			r   invokeResult
			err error
		}
		results := make([]outcome, 3)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.invokeE(fn, map[string]any{"hold": hold}, invokeOpts{qualifier: "live", tail: true})
				results[i] = outcome{r, err}
			}()
		}
		eventually(t, 20*time.Second, "three provisioned envs busy", func() error {
			f := hearthConcurrency(t, s).function(fn)
			if f == nil || f.Provisioned == nil || f.Provisioned.Busy != 3 || f.ProvisionedInFlight != 3 {
				return fmt.Errorf("hearth concurrency: %s", jsonOf(t, f))
			}
			return nil
		})
		spill, spillRep, _ := pcInvoke(t, s, fn, "live", "1", 0)
		if !spillRep.HasInit || spill.initType() != initOnDemand {
			t.Errorf("the fourth invocation while three provisioned envs were busy: Init Duration %v, AWS_LAMBDA_INITIALIZATION_TYPE %q; want a cold on-demand env",
				spillRep.HasInit, spill.initType())
		}
		wg.Wait()
		provStreams := map[string]bool{}
		for i, o := range results {
			if o.err != nil {
				t.Fatalf("parallel invocation %d: %v", i, o.err)
			}
			if o.r.Status != http.StatusOK || o.r.FunctionError != "" {
				t.Fatalf("parallel invocation %d: %s", i, o.r)
			}
			a, rep, _ := pcCheck(t, o.r, "1")
			if rep.HasInit || a.initType() != initProvisioned {
				t.Errorf("parallel invocation %d of the alias: Init Duration %v, AWS_LAMBDA_INITIALIZATION_TYPE %q; want a provisioned env\n%s",
					i, rep.HasInit, a.initType(), o.r.Log)
			}
			provStreams[a.Ctx.LogStream] = true
		}
		if len(provStreams) != 3 || provStreams[spill.Ctx.LogStream] {
			t.Errorf("log streams of the provisioned invocations %v and of the spill-over %q: want 3 envs and a fourth", provStreams, spill.Ctx.LogStream)
		}

		// Idle again: the alias and its version take a provisioned env first (a warm
		// on-demand env of the version exists too); $LATEST is on-demand.
		for _, q := range []string{"live", "1"} {
			a, rep, _ := pcInvoke(t, s, fn, q, "1", 0)
			if rep.HasInit || a.initType() != initProvisioned || !provStreams[a.Ctx.LogStream] {
				t.Errorf("invoke %s:%s with idle provisioned envs: Init Duration %v, AWS_LAMBDA_INITIALIZATION_TYPE %q, log stream %q; want one of the provisioned envs",
					fn, q, rep.HasInit, a.initType(), a.Ctx.LogStream)
			}
		}
		latest, latestRep, _ := pcInvoke(t, s, fn, "", "$LATEST", 0)
		if !latestRep.HasInit || latest.initType() != initOnDemand {
			t.Errorf("invoke $LATEST: Init Duration %v, AWS_LAMBDA_INITIALIZATION_TYPE %q; want a cold on-demand env", latestRep.HasInit, latest.initType())
		}

		// The operator's view, and the list.
		f := hearthConcurrency(t, s).function(fn)
		want := provViewConfig{Qualifier: "live", Status: "READY", Requested: 3, Allocated: 3, Available: 3}
		if f == nil || f.Provisioned == nil || len(f.Provisioned.Configs) != 1 || f.Provisioned.Configs[0] != want ||
			f.Provisioned.Requested != 3 || f.Provisioned.Allocated != 3 || f.Provisioned.Available != 3 || f.Provisioned.Busy != 0 || f.ProvisionedInFlight != 0 {
			t.Errorf("hearth concurrency --json for %s: %s; want one config %+v", fn, jsonOf(t, f), want)
		}
		list := call(t, c.ListProvisionedConcurrencyConfigs, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(fn)})
		if len(list.ProvisionedConcurrencyConfigs) != 1 || deref(list.ProvisionedConcurrencyConfigs[0].FunctionArn) != functionArn(fn)+":live" ||
			list.ProvisionedConcurrencyConfigs[0].Status != types.ProvisionedConcurrencyStatusEnumReady || list.NextMarker != nil {
			t.Errorf("ListProvisionedConcurrencyConfigs = %s", jsonOf(t, list))
		}

		// Delete: the config is gone and its envs are drained.
		had := map[string]bool{}
		for stream := range provStreams {
			had[stream] = len(s.envProcesses(stream)) > 0
		}
		if err := deletePC(c, t, fn, "live"); err != nil {
			t.Fatalf("DeleteProvisionedConcurrencyConfig: %v", err)
		}
		_, err := getPC(c, t, fn, "live")
		wantAPIError(t, err, "ProvisionedConcurrencyConfigNotFoundException", 404, "No Provisioned Concurrency Config found for this function")
		for stream := range provStreams {
			s.wantEnvGone(t, stream, had[stream], 20*time.Second)
		}
		eventually(t, 20*time.Second, "alias invocations on-demand after the Delete", func() error {
			a, _, _ := pcInvoke(t, s, fn, "live", "1", 0)
			if a.initType() != initOnDemand || provStreams[a.Ctx.LogStream] {
				return fmt.Errorf("AWS_LAMBDA_INITIALIZATION_TYPE %q, log stream %q", a.initType(), a.Ctx.LogStream)
			}
			return nil
		})
		if f := hearthConcurrency(t, s).function(fn); f == nil || f.Provisioned != nil {
			t.Errorf("hearth concurrency --json after the Delete: %s; want no provisioned concurrency", jsonOf(t, f))
		}
	})
}

// TestProvisionedConcurrencyErrors: Lambda's errors for every misuse of the
// provisioned-concurrency API, the account's arithmetic, $LATEST throttled when the
// configs take the whole reservation, list pagination, and a config the host
// cannot hold refused when it is put.
func TestProvisionedConcurrencyErrors(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	s := startSandboxServer(t, "namespace")
	c := s.client()

	// P: versions 1–3, alias live → 1, alias two → 2; no reservation.
	p := uniqueName("pc-err")
	publishN(t, c, p, 3)
	createAlias(t, c, p, "live", "1")
	createAlias(t, c, p, "two", "2")
	pArn := functionArn(p)

	t.Run("not found and unpublished", func(t *testing.T) {
		_, err := putPC(c, t, p, "$LATEST", 1)
		wantAPIError(t, err, "InvalidParameterValueException", 400, "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
		_, err = getPC(c, t, p, "$LATEST")
		wantAPIError(t, err, "InvalidParameterValueException", 400, "The function resource provided must be an alias or a published version.")
		err = deletePC(c, t, p, "$LATEST")
		wantAPIError(t, err, "InvalidParameterValueException", 400, "The function resource provided must be an alias or a published version.")

		_, err = putPC(c, t, p, "nope", 1)
		wantAPIError(t, err, "ResourceNotFoundException", 404, "Cannot find alias arn: "+pArn+":nope")
		_, err = getPC(c, t, p, "nope")
		wantAPIError(t, err, "ResourceNotFoundException", 404, "Cannot find alias arn: "+pArn+":nope")
		err = deletePC(c, t, p, "nope")
		wantAPIError(t, err, "ResourceNotFoundException", 404, "Cannot find alias arn: "+pArn+":nope")

		_, err = putPC(c, t, p, "7", 1)
		wantAPIError(t, err, "ResourceNotFoundException", 404, "Function not found: "+pArn+":7")
		_, err = getPC(c, t, p, "7")
		wantAPIError(t, err, "ResourceNotFoundException", 404, "Function not found: "+pArn+":7")

		missing := uniqueName("pc-missing")
		_, err = putPC(c, t, missing, "1", 1)
		wantAPIError(t, err, "ResourceNotFoundException", 404, missing)
		_, err = c.ListProvisionedConcurrencyConfigs(ctxT(t), &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(missing)})
		wantAPIError(t, err, "ResourceNotFoundException", 404, missing)

		_, err = getPC(c, t, p, "live")
		wantAPIError(t, err, "ProvisionedConcurrencyConfigNotFoundException", 404, "No Provisioned Concurrency Config found for this function")
		_, err = getPC(c, t, p, "1")
		wantAPIError(t, err, "ProvisionedConcurrencyConfigNotFoundException", 404, "No Provisioned Concurrency Config found for this function")
		// Deleting what is not there is idempotent.
		dr := s.raw(t, http.MethodDelete, "/2019-09-30/functions/"+url.PathEscape(p)+"/provisioned-concurrency?Qualifier=live", nil, rawOptions{})
		if dr.Status != http.StatusNoContent {
			t.Errorf("DeleteProvisionedConcurrencyConfig without a config: %d %s, want 204", dr.Status, dr.Body)
		}

		// 0 (the SDK does not check the minimum; raw, to be sure of what is sent).
		zr := s.raw(t, http.MethodPut, "/2019-09-30/functions/"+url.PathEscape(p)+"/provisioned-concurrency?Qualifier=live",
			[]byte(`{"ProvisionedConcurrentExecutions":0}`), rawOptions{})
		if typ := zr.Header.Get("x-amzn-ErrorType"); zr.Status != 400 || !strings.HasPrefix(typ, "ValidationException") {
			t.Errorf("Put 0: %d %s %s, want 400 ValidationException", zr.Status, typ, zr.Body)
		} else if _, msg := zr.errorDoc(t); !strings.Contains(msg, "greater than or equal to 1") {
			t.Errorf("Put 0: message %q", msg)
		}
		if _, err := getPC(c, t, p, "live"); errorCode(err) != "ProvisionedConcurrencyConfigNotFoundException" {
			t.Errorf("after refused Puts, Get live: %v", err)
		}
	})

	// One version, one config: through an alias or directly, not both.
	t.Run("alias and version conflicts", func(t *testing.T) {
		out, err := putPC(c, t, p, "live", 1)
		if err != nil {
			t.Fatalf("Put live 1: %v", err)
		}
		wantPutAnswer(t, out, 1)
		_, err = putPC(c, t, p, "1", 1)
		wantAPIError(t, err, "ResourceConflictException", 409, "Version is pointed by a Provisioned Concurrency alias")
		out, err = putPC(c, t, p, "2", 1)
		if err != nil {
			t.Fatalf("Put version 2: %v", err)
		}
		wantPutAnswer(t, out, 1)
		_, err = putPC(c, t, p, "two", 1)
		wantAPIError(t, err, "ResourceConflictException", 409, "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
		if out, err = putPC(c, t, p, "3", 1); err != nil {
			t.Fatalf("Put version 3: %v", err)
		}
		wantPutAnswer(t, out, 1)
		if _, err := getPC(c, t, p, "two"); errorCode(err) != "ProvisionedConcurrencyConfigNotFoundException" {
			t.Errorf("the refused alias config exists: %v", err)
		}
		for _, q := range []string{"live", "2", "3"} {
			wantReady(t, waitPC(t, c, p, q, types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 1)
		}
	})

	t.Run("list pagination", func(t *testing.T) {
		var all []string
		var marker *string
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("ListProvisionedConcurrencyConfigs: more pages than configs: %v", all)
			}
			out := call(t, c.ListProvisionedConcurrencyConfigs, &lambda.ListProvisionedConcurrencyConfigsInput{
				FunctionName: aws.String(p), MaxItems: aws.Int32(2), Marker: marker})
			if len(out.ProvisionedConcurrencyConfigs) > 2 || (out.NextMarker != nil && len(out.ProvisionedConcurrencyConfigs) != 2) {
				t.Errorf("page %d with MaxItems 2: %s", pages, jsonOf(t, out))
			}
			for _, it := range out.ProvisionedConcurrencyConfigs {
				all = append(all, deref(it.FunctionArn))
				if it.Status != types.ProvisionedConcurrencyStatusEnumReady || deref(it.RequestedProvisionedConcurrentExecutions) != 1 ||
					deref(it.AllocatedProvisionedConcurrentExecutions) != 1 || deref(it.LastModified) == "" {
					t.Errorf("list item %s", jsonOf(t, it))
				}
			}
			if out.NextMarker == nil {
				break
			}
			marker = out.NextMarker
		}
		slices.Sort(all)
		if want := []string{pArn + ":2", pArn + ":3", pArn + ":live"}; !slices.Equal(all, want) {
			t.Errorf("listed %v over pages of 2, want %v", all, want)
		}
		pg := lambda.NewListProvisionedConcurrencyConfigsPaginator(c, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(p), MaxItems: aws.Int32(1)})
		n := 0
		for pg.HasMorePages() && n < 10 {
			out, err := pg.NextPage(ctxT(t))
			if err != nil {
				t.Fatalf("paginator: %v", err)
			}
			n += len(out.ProvisionedConcurrencyConfigs)
		}
		if n != 3 {
			t.Errorf("the SDK's paginator with MaxItems 1 saw %d configs, want 3", n)
		}
		_, err := c.ListProvisionedConcurrencyConfigs(ctxT(t), &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(p), MaxItems: aws.Int32(51)})
		wantAPIError(t, err, "ValidationException", 400)
	})

	// R: reserved 3; its configs live within the reservation.
	r := uniqueName("pc-rsv")
	publishN(t, c, r, 2)
	createAlias(t, c, r, "live", "1")
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(r), ReservedConcurrentExecutions: aws.Int32(3)})

	t.Run("reservation", func(t *testing.T) {
		_, err := putPC(c, t, r, "live", 4)
		wantAPIError(t, err, "InvalidParameterValueException", 400, "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function")
		if _, err := putPC(c, t, r, "live", 2); err != nil {
			t.Fatalf("Put live 2 within a reservation of 3: %v", err)
		}
		_, err = putPC(c, t, r, "2", 2)
		wantAPIError(t, err, "InvalidParameterValueException", 400, "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function")
		if _, err := putPC(c, t, r, "2", 1); err != nil {
			t.Fatalf("Put version 2 1 (Σ 3 = the reservation): %v", err)
		}
		_, err = c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(r), ReservedConcurrentExecutions: aws.Int32(2)})
		wantAPIError(t, err, "InvalidParameterValueException", 400)
		if msg := errMessage(err); msg != " ReservedConcurrentExecutions  2 should not be lower than function's total provisioned concurrency [3]." {
			t.Errorf("PutFunctionConcurrency 2 below Σprovisioned 3: message %q, want Lambda's (sic)", msg)
		}
		wantReserved(t, c, r, aws.Int32(3))
		// Without a reservation a function's provisioned concurrency comes out of the
		// unreserved pool, with the same rule.
		_, err = c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(p), ReservedConcurrentExecutions: aws.Int32(1)})
		wantAPIError(t, err, "InvalidParameterValueException", 400, "should not be lower than function's total provisioned concurrency [3]")

		wantReady(t, waitPC(t, c, r, "live", types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 2)
		wantReady(t, waitPC(t, c, r, "2", types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 1)

		// Σprovisioned == reserved: $LATEST has no on-demand room and is throttled;
		// the provisioned alias runs.
		lr := s.invoke(t, r, map[string]any{}, invokeOpts{})
		if lr.Status != http.StatusTooManyRequests || lr.Header.Get("x-amzn-ErrorType") != "TooManyRequestsException" {
			t.Errorf("invoke $LATEST with the reservation all provisioned: %s; want 429 TooManyRequestsException", lr)
		} else if got := throttleOf(t, lr); got.Reason != "ReservedFunctionConcurrentInvocationLimitExceeded" || got.Type != "User" {
			t.Errorf("invoke $LATEST with the reservation all provisioned: body %+v", got)
		}
		s.invokeOK(t, r, map[string]any{}, invokeOpts{qualifier: "live"})
		s.invokeOK(t, r, map[string]any{}, invokeOpts{qualifier: "2"})
		if f := hearthConcurrency(t, s).function(r); f == nil || f.Throttles == 0 {
			t.Errorf("hearth concurrency --json: %s; want the $LATEST throttle counted", jsonOf(t, f))
		}
	})

	// U: no reservation, nothing provisioned yet.
	u := uniqueName("pc-unrsv")
	publishN(t, c, u, 1)

	t.Run("account arithmetic", func(t *testing.T) {
		// 1000 − R's reservation 3 − P's provisioned 3 (P has no reservation).
		wantUnreserved(t, c, 994)
		_, err := putPC(c, t, u, "1", 995)
		wantAPIError(t, err, "InvalidParameterValueException", 400, "unreserved concurrency [994]")
		_, err = putPC(c, t, u, "1", 895)
		wantAPIError(t, err, "InvalidParameterValueException", 400, "minimum value of [100]")
		if _, err := getPC(c, t, u, "1"); errorCode(err) != "ProvisionedConcurrencyConfigNotFoundException" {
			t.Errorf("a refused Put left a config: %v", err)
		}
		wantUnreserved(t, c, 994)
		if _, err := putPC(c, t, u, "1", 2); err != nil {
			t.Fatalf("Put U:1 2: %v", err)
		}
		wantUnreserved(t, c, 992)
		// Within the reservation, R's configs take nothing more from the pool.
		if err := deletePC(c, t, r, "2"); err != nil {
			t.Fatal(err)
		}
		wantUnreserved(t, c, 992)
		// Deleting configs of unreserved functions gives their concurrency back.
		if err := deletePC(c, t, u, "1"); err != nil {
			t.Fatal(err)
		}
		wantUnreserved(t, c, 994)
		if err := deletePC(c, t, p, "3"); err != nil {
			t.Fatal(err)
		}
		wantUnreserved(t, c, 995)
		// A reservation on a provisioned function: the reservation counts, once.
		call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(p), ReservedConcurrentExecutions: aws.Int32(10)})
		wantUnreserved(t, c, 1000-3-10)
		call(t, c.DeleteFunctionConcurrency, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(p)})
		wantUnreserved(t, c, 995)
		// Deleting the function releases its provisioned concurrency.
		call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(p)})
		wantUnreserved(t, c, 997)
	})

	// The host: a config must fit --max-memory-mb beside the other configs (their
	// envs are never evicted), checked when it is put.
	t.Run("host capacity", func(t *testing.T) {
		small := startSandboxServer(t, "namespace", "--max-memory-mb", "512")
		sc := small.client()
		a, b, d := uniqueName("pc-cap-a"), uniqueName("pc-cap-b"), uniqueName("pc-cap-d")
		for _, fn := range []string{a, b, d} {
			publishN(t, sc, fn, 1) // 128 MB
		}
		_, err := putPC(sc, t, a, "1", 5) // 640 MB
		wantAPIError(t, err, "InvalidParameterValueException", 400, "--max-memory-mb")
		if _, err := getPC(sc, t, a, "1"); errorCode(err) != "ProvisionedConcurrencyConfigNotFoundException" {
			t.Errorf("a config the host refused was stored: %v", err)
		}
		out, err := putPC(sc, t, a, "1", 2)
		if err != nil {
			t.Fatalf("Put 2 × 128 MB on a 512 MB host: %v", err)
		}
		wantPutAnswer(t, out, 2)
		wantReady(t, waitPC(t, sc, a, "1", types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 2)
		// Beside a's 256 MB, 3 × 128 MB does not fit.
		_, err = putPC(sc, t, b, "1", 3)
		wantAPIError(t, err, "InvalidParameterValueException", 400, "--max-memory-mb")
		if _, err := getPC(sc, t, b, "1"); errorCode(err) != "ProvisionedConcurrencyConfigNotFoundException" {
			t.Errorf("a config the host refused was stored: %v", err)
		}
		// A config replaced is counted once: a at 3 (384 MB, not 256 + 384), then 2.
		for _, n := range []int32{3, 2} {
			if _, err := putPC(sc, t, a, "1", n); err != nil {
				t.Fatalf("Put a again at %d: %v", n, err)
			}
			wantReady(t, waitPC(t, sc, a, "1", types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), n)
		}

		// Puts at once for the 256 MB left, 2 × 128 MB each: one fits, so the others
		// must be refused — whatever the order in which the host's worker hears of
		// them. A few rounds: the winner's config is deleted between them, once its
		// envs are gone (a's two are all that remain).
		racers := []string{b, d}
		for len(racers) < 6 {
			fn := uniqueName("pc-cap-r")
			publishN(t, sc, fn, 1)
			racers = append(racers, fn)
		}
		for round := 1; round <= 3; round++ {
			var wg sync.WaitGroup
			errs := make([]error, len(racers))
			for i, fn := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = putPC(sc, t, fn, "1", 2)
				}()
			}
			wg.Wait()
			var accepted []string
			for i, err := range errs {
				if err == nil {
					accepted = append(accepted, racers[i])
				} else {
					wantAPIError(t, err, "InvalidParameterValueException", 400, "--max-memory-mb")
				}
			}
			if len(accepted) != 1 {
				// What the host then does with the configs it accepted:
				var states []string
				for _, fn := range accepted {
					eventually(t, 30*time.Second, fn+" settled", func() error {
						g, err := getPC(sc, t, fn, "1")
						if err != nil {
							return err
						}
						if g.Status == types.ProvisionedConcurrencyStatusEnumInProgress {
							return fmt.Errorf("%s", jsonOf(t, g))
						}
						states = append(states, fn+": "+jsonOf(t, g))
						return nil
					})
				}
				t.Fatalf("round %d: %d PutProvisionedConcurrencyConfig at once, 2 × 128 MB each, with 256 MB of --max-memory-mb 512 left: %d accepted (202), "+
					"want exactly 1 (the others 400 InvalidParameterValueException). Then:\n%s", round, len(racers), len(accepted), strings.Join(states, "\n"))
			}
			wantReady(t, waitPC(t, sc, accepted[0], "1", types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 2)
			if err := deletePC(sc, t, accepted[0], "1"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "the deleted config's envs gone", func() error {
				frozen, running, err := envFreezeStates(small, "namespace")
				if err != nil {
					return err
				}
				if frozen+running != 2 {
					return fmt.Errorf("%d envs", frozen+running)
				}
				return nil
			})
		}
	})
}

// errMessage is an API error's message, exactly.
func errMessage(err error) string {
	var apiErr interface{ ErrorMessage() string }
	if errors.As(err, &apiErr) {
		return apiErr.ErrorMessage()
	}
	return ""
}

// TestProvisionedInitFailure: a config whose init phase keeps failing ends FAILED
// with FUNCTION_ERROR_INIT_FAILURE and nothing allocated; invocations meanwhile
// run on-demand and answer the function's init error.
func TestProvisionedInitFailure(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	s := startSandboxServer(t, "namespace")
	c := s.client()
	fn := deploy(t, s, kindPCInitFails)
	v := publishVersion(t, c, fn)
	createAlias(t, c, fn, "live", v)
	out, err := putPC(c, t, fn, "live", 2)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	wantPutAnswer(t, out, 2)

	// An invocation while the config is tried (or after it failed): on-demand, the
	// init error as a function error, not a platform error.
	r := s.invoke(t, fn, map[string]any{}, invokeOpts{qualifier: "live", tail: true})
	doc := wantFunctionError(t, r)
	if !strings.Contains(doc.ErrorType, "ImportModuleError") && !strings.Contains(doc.ErrorMessage, "hearth_e2e_no_such_module") {
		t.Errorf("the init failure answered %+v, want the import error", doc)
	}

	failed := waitPC(t, c, fn, "live", types.ProvisionedConcurrencyStatusEnumFailed, 90*time.Second)
	if deref(failed.StatusReason) != "FUNCTION_ERROR_INIT_FAILURE" || deref(failed.AllocatedProvisionedConcurrentExecutions) != 0 ||
		deref(failed.AvailableProvisionedConcurrentExecutions) != 0 || deref(failed.RequestedProvisionedConcurrentExecutions) != 2 {
		t.Errorf("a config whose init fails: %s; want FAILED, FUNCTION_ERROR_INIT_FAILURE, Requested 2, Allocated 0, Available 0", jsonOf(t, failed))
	}
	list := call(t, c.ListProvisionedConcurrencyConfigs, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(fn)})
	if len(list.ProvisionedConcurrencyConfigs) != 1 || list.ProvisionedConcurrencyConfigs[0].Status != types.ProvisionedConcurrencyStatusEnumFailed ||
		deref(list.ProvisionedConcurrencyConfigs[0].StatusReason) != "FUNCTION_ERROR_INIT_FAILURE" {
		t.Errorf("ListProvisionedConcurrencyConfigs: %s", jsonOf(t, list))
	}
	f := hearthConcurrency(t, s).function(fn)
	want := provViewConfig{Qualifier: "live", Status: "FAILED", StatusReason: "FUNCTION_ERROR_INIT_FAILURE", Requested: 2}
	if f == nil || f.Provisioned == nil || len(f.Provisioned.Configs) != 1 || f.Provisioned.Configs[0] != want {
		t.Errorf("hearth concurrency --json: %s; want %+v", jsonOf(t, f), want)
	}
	// Each init phase has a log stream of its own: the on-demand one and the
	// provisioned attempts (Lambda makes six), which stop once the config is FAILED.
	streams := func() int { return strings.Count("\n"+s.functionLogs(t, fn), "\n== ") }
	var tried int
	eventually(t, 20*time.Second, "the init attempts' log streams", func() error {
		if tried = streams(); tried < 1+6 {
			return fmt.Errorf("%d log streams", tried)
		}
		return nil
	})
	time.Sleep(3 * time.Second) // three of the provisioner's ticks
	if again := streams(); again != tried {
		t.Errorf("the init was tried again after the config was FAILED: %d log streams, then %d", tried, again)
	}
	t.Logf("%d log streams: one on-demand, %d provisioned init attempts", tried, tried-1)
	// After FAILED, invocations still run on-demand.
	r = s.invoke(t, fn, map[string]any{}, invokeOpts{qualifier: "live"})
	wantFunctionError(t, r)
	r = s.invoke(t, fn, map[string]any{}, invokeOpts{qualifier: v})
	wantFunctionError(t, r)
}

// TestProvisionedAfterRestart: configs are durable; after kill -9 the next server
// on the same data directory provisions them again.
func TestProvisionedAfterRestart(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	dir := t.TempDir()
	// Runs after both servers stopped (cleanups run last-registered first).
	t.Cleanup(func() {
		if left := mountsUnder(dir); len(left) > 0 {
			t.Errorf("the servers stopped but left mounts in their data directory: %v", left)
			unmountAll(left)
		}
	})
	s := startServer(t, serverOptions{dataDir: dir, sandbox: "namespace"})
	c := s.client()
	fn := deploy(t, s, kindPC)
	v := publishVersion(t, c, fn)
	if _, err := putPC(c, t, fn, v, 2); err != nil {
		t.Fatalf("Put: %v", err)
	}
	wantReady(t, waitPC(t, c, fn, v, types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 2)
	a, rep, _ := pcInvoke(t, s, fn, v, v, 0)
	if rep.HasInit || a.initType() != initProvisioned {
		t.Fatalf("before the restart: Init Duration %v, AWS_LAMBDA_INITIALIZATION_TYPE %q", rep.HasInit, a.initType())
	}

	if err := s.kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	s2 := startServer(t, serverOptions{dataDir: dir, sandbox: "namespace"})
	c2 := s2.client()
	got, err := getPC(c2, t, fn, v)
	if err != nil {
		t.Fatalf("Get after kill -9: %v", err)
	}
	if got.Status == types.ProvisionedConcurrencyStatusEnumFailed || deref(got.RequestedProvisionedConcurrentExecutions) != 2 {
		t.Errorf("Get right after the restart: %s; want the config, IN_PROGRESS or READY", jsonOf(t, got))
	}
	t.Logf("right after the restart: %s %d/%d", got.Status, deref(got.AllocatedProvisionedConcurrentExecutions), deref(got.RequestedProvisionedConcurrentExecutions))
	wantReady(t, waitPC(t, c2, fn, v, types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 2)
	a, rep, _ = pcInvoke(t, s2, fn, v, v, 0)
	if rep.HasInit || a.initType() != initProvisioned {
		t.Errorf("after the restart: Init Duration %v, AWS_LAMBDA_INITIALIZATION_TYPE %q; want a provisioned env", rep.HasInit, a.initType())
	}
}

// TestProvisionedAliasMoves: an alias's config follows the alias — a Put while
// IN_PROGRESS replaces the request, moving the alias re-provisions the new version
// and drains the old one, and deleting the alias deletes its config.
func TestProvisionedAliasMoves(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	s := startSandboxServer(t, "namespace")
	c := s.client()
	fn := deploy(t, s, kindPC)
	v1 := publishVersion(t, c, fn)
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(fn),
		Environment: &types.Environment{Variables: map[string]string{"MY_VAR": "two"}}})
	waitActive(t, s, fn)
	v2 := publishVersion(t, c, fn)
	if v1 != "1" || v2 != "2" {
		t.Fatalf("published %q and %q", v1, v2)
	}
	createAlias(t, c, fn, "live", v1)

	// A second Put while the first is IN_PROGRESS replaces it.
	if _, err := putPC(c, t, fn, "live", 1); err != nil {
		t.Fatal(err)
	}
	out, err := putPC(c, t, fn, "live", 2)
	if err != nil {
		t.Fatalf("a Put while IN_PROGRESS: %v", err)
	}
	wantPutAnswer(t, out, 2)
	wantReady(t, waitPC(t, c, fn, "live", types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 2)
	wantUnreserved(t, c, 998)
	a, rep, _ := pcInvoke(t, s, fn, "live", v1, 0)
	if rep.HasInit || a.initType() != initProvisioned {
		t.Fatalf("invoke live: Init Duration %v, AWS_LAMBDA_INITIALIZATION_TYPE %q", rep.HasInit, a.initType())
	}
	old := a.Ctx.LogStream
	hadOld := len(s.envProcesses(old)) > 0

	// Moving the alias: not to $LATEST; to version 2, whose envs are provisioned in
	// turn while version 1's go.
	_, err = c.UpdateAlias(ctxT(t), &lambda.UpdateAliasInput{FunctionName: aws.String(fn), Name: aws.String("live"), FunctionVersion: aws.String("$LATEST")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	call(t, c.UpdateAlias, &lambda.UpdateAliasInput{FunctionName: aws.String(fn), Name: aws.String("live"), FunctionVersion: aws.String(v2)})
	eventually(t, 60*time.Second, "live's provisioned envs on version 2", func() error {
		r := s.invoke(t, fn, map[string]any{}, invokeOpts{qualifier: "live", tail: true})
		if r.Status != http.StatusOK || r.FunctionError != "" {
			return fmt.Errorf("invoke live: %s", r)
		}
		if r.ExecutedVersion != v2 {
			return fmt.Errorf("invoke live ran version %q", r.ExecutedVersion)
		}
		a, rep, _ := pcCheck(t, r, v2)
		if rep.HasInit || a.initType() != initProvisioned || a.Env["MY_VAR"] != "two" {
			return fmt.Errorf("invoke live: Init Duration %v, AWS_LAMBDA_INITIALIZATION_TYPE %q, MY_VAR %q", rep.HasInit, a.initType(), a.Env["MY_VAR"])
		}
		return nil
	})
	wantReady(t, waitPC(t, c, fn, "live", types.ProvisionedConcurrencyStatusEnumReady, 60*time.Second), 2)
	s.wantEnvGone(t, old, hadOld, 20*time.Second)
	if a, _, _ := pcInvoke(t, s, fn, v1, v1, 0); a.initType() != initOnDemand {
		t.Errorf("invoke version 1 once live moved away: AWS_LAMBDA_INITIALIZATION_TYPE %q, want on-demand", a.initType())
	}
	_, err = putPC(c, t, fn, v2, 1)
	wantAPIError(t, err, "ResourceConflictException", 409, "Version is pointed by a Provisioned Concurrency alias")
	if _, err := putPC(c, t, fn, v1, 1); err != nil {
		t.Fatalf("Put version 1 once live moved away: %v", err)
	}
	// An alias with a config cannot move onto a provisioned version.
	_, err = c.UpdateAlias(ctxT(t), &lambda.UpdateAliasInput{FunctionName: aws.String(fn), Name: aws.String("live"), FunctionVersion: aws.String(v1)})
	wantAPIError(t, err, "ResourceConflictException", 409)
	if err := deletePC(c, t, fn, v1); err != nil {
		t.Fatal(err)
	}
	wantUnreserved(t, c, 998)

	// Deleting the alias deletes its config.
	call(t, c.DeleteAlias, &lambda.DeleteAliasInput{FunctionName: aws.String(fn), Name: aws.String("live")})
	_, err = getPC(c, t, fn, "live")
	wantAPIError(t, err, "ResourceNotFoundException", 404, "Cannot find alias arn: "+functionArn(fn)+":live")
	list := call(t, c.ListProvisionedConcurrencyConfigs, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(fn)})
	if len(list.ProvisionedConcurrencyConfigs) != 0 {
		t.Errorf("ListProvisionedConcurrencyConfigs after DeleteAlias: %s", jsonOf(t, list))
	}
	wantUnreserved(t, c, 1000)
	createAlias(t, c, fn, "live", v2)
	_, err = getPC(c, t, fn, "live")
	wantAPIError(t, err, "ProvisionedConcurrencyConfigNotFoundException", 404)
	eventually(t, 20*time.Second, "version 2 on-demand once the alias and its config are gone", func() error {
		if a, _, _ := pcInvoke(t, s, fn, v2, v2, 0); a.initType() != initOnDemand {
			return fmt.Errorf("AWS_LAMBDA_INITIALIZATION_TYPE %q", a.initType())
		}
		return nil
	})
}
