package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/invoke"
)

// The "concurrency" part (issue 8), at 128 MB (Lambda's default MemorySize):
//   - the throttle decision: a 429's latency (reserved concurrency 0) beside a warm
//     invoke's, with no reservation and with one; and the in-process counter's own
//     cost per execution, as a share of the warm invoke (the goal: under 2 %);
//   - provisioned vs on-demand: the first invoke of a provisioned env once its config
//     is READY (the goal: a warm invoke's latency, no init on the path) against an
//     on-demand cold start, per runtime — and for Go at 1,769 MB (one vCPU) too;
//   - burst: 50 parallel first invokes of a function with provisioned concurrency 50
//     against the same burst on-demand, wall time to the 50th answer.

type provFigures struct {
	label       string
	onDemand    []time.Duration // cold starts, client-side
	odInit      []time.Duration // their Init Duration
	provFirst   []time.Duration // the first invoke of a provisioned env after READY
	provWarm    []time.Duration // later invokes of the same env, back to back
	provIdle    []time.Duration // later invokes of the same env, each after 300 ms idle (frozen, as the first was)
	provInitHit int             // provisioned first invokes that reported an Init Duration (should be 0)
}

type concFigures struct {
	driver                 string
	throttle               []time.Duration // 429s (reserved 0)
	warmFree, warmReserved []time.Duration // warm invokes: no reservation; reserved 100
	prov                   []*provFigures
	burstOD, burstProv     parallelFigures
	burstReady             time.Duration // Put → READY for 50
	notes                  []string
}

func (f *concFigures) note(format string, args ...any) {
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
}

// counterCost is what one execution's counting costs in process: Acquire, then
// release, on the dispatcher's counter.
func counterCost() time.Duration {
	c := invoke.NewLocalCounter()
	l := control.ConcurrencyLimits{Unreserved: 1000}
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			release, err := c.Acquire("fn", l)
			if err != nil {
				b.Fatal(err)
			}
			release()
		}
	})
	return time.Duration(r.NsPerOp())
}

func benchConcurrency(self string, o *invokeBenchOptions, drivers []string, firsts, throttles, burstN int) error {
	art, err := buildArtifacts(self, o.fnBootstrap)
	if err != nil {
		return err
	}
	defer art.cleanup()
	busy := hostBusy()
	cost := counterCost()
	var all []*concFigures
	for _, d := range drivers {
		all = append(all, benchConcurrencyDriver(self, d, art, firsts, throttles, burstN))
	}
	printConcurrencyTables(os.Stdout, all, cost, firsts, burstN, busy)
	return nil
}

func benchConcurrencyDriver(self, driver string, art *benchArtifacts, firsts, throttles, burstN int) *concFigures {
	f := &concFigures{driver: driver}
	dir, err := os.MkdirTemp("", "hearth-bench-conc-")
	if err != nil {
		f.note("%v", err)
		return f
	}
	defer os.RemoveAll(dir)
	progress("concurrency, %s: starting hearth serve", driver)
	// Idle on-demand envs go after 3 s, so that each cold-start sample finds none
	// (provisioned envs are never reaped for idleness).
	srv, err := startHearth(self, dir, driver, "--idle-ttl", "3s")
	if err != nil {
		f.note("%v", err)
		return f
	}
	defer srv.stop()
	ctx := context.Background()
	c := newBenchClient(srv.addr, 64)

	// The throttle decision.
	for _, fn := range []string{"conc-free", "conc-reserved", "conc-zero"} {
		if err := createBenchFunction(ctx, c, fn, types.RuntimeProvidedal2023, "bootstrap", art.goZip, 128); err != nil {
			f.note("%v", err)
			return f
		}
	}
	for fn, n := range map[string]int32{"conc-reserved": 100, "conc-zero": 0} {
		if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(n)}); err != nil {
			f.note("PutFunctionConcurrency: %v", apiError(err))
			return f
		}
	}
	progress("concurrency, %s: %d throttled invokes, %d warm with and without a reservation", driver, throttles, throttles)
	var tErr error
	f.throttle, tErr = repeat(throttles, func() error {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("conc-zero")})
		var tm *types.TooManyRequestsException
		if errors.As(err, &tm) && tm.Reason == types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
			return nil
		}
		return fmt.Errorf("a function reserved at 0 answered %v; want 429", err)
	})
	if tErr != nil {
		f.note("throttle: %v", tErr)
	}
	warm := func(fn string) []time.Duration {
		call := func() error {
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{}`)})
			if err != nil {
				return apiError(err)
			}
			return checkNoFunctionError(out)
		}
		if _, err := repeat(100, call); err != nil {
			f.note("%s warm-up: %v", fn, err)
			return nil
		}
		lat, err := repeat(throttles, call)
		if err != nil {
			f.note("%s: %v", fn, err)
		}
		return lat
	}
	// Interleaved halves, so that drift in the host's load falls on both.
	a1, b1 := warm("conc-free"), warm("conc-reserved")
	a2, b2 := warm("conc-free"), warm("conc-reserved")
	f.warmFree, f.warmReserved = append(a1, a2...), append(b1, b2...)

	// Provisioned vs on-demand, per runtime.
	type fnSpec struct {
		label, name, handler string
		rt                   types.Runtime
		zip                  []byte
		mb                   int
	}
	specs := []fnSpec{
		{"Go (aws-lambda-go)", "prov-go", "bootstrap", types.RuntimeProvidedal2023, art.goZip, 128},
		{"Python 3.12", "prov-py", "lambda_function.lambda_handler", types.RuntimePython312, art.pyZip, 128},
		{"Node 20", "prov-js", "index.handler", types.RuntimeNodejs20x, art.nodeZip, 128},
		{"Go, 1769 MB (1 vCPU)", "prov-go-1vcpu", "bootstrap", types.RuntimeProvidedal2023, art.goZip, 1769},
	}
	for _, s := range specs {
		p := &provFigures{label: s.label}
		f.prov = append(f.prov, p)
		if err := createBenchFunction(ctx, c, s.name, s.rt, s.handler, s.zip, s.mb); err != nil {
			f.note("%s: %v", s.name, err)
			continue
		}
		progress("concurrency, %s: %d on-demand cold starts of %s", driver, firsts, s.label)
		var reps []reportFigures
		p.onDemand, reps, err = hearthColdStarts(ctx, c, srv, s.name, firsts, []byte(`{}`), checkNoFunctionError)
		if err != nil {
			f.note("%s cold: %v", s.name, err)
		}
		for _, r := range reps {
			p.odInit = append(p.odInit, r.initDuration)
		}
		pub, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(s.name)})
		if err != nil {
			f.note("%s publish: %v", s.name, apiError(err))
			continue
		}
		q := aws.ToString(pub.Version)
		progress("concurrency, %s: %d first invokes of a provisioned env of %s", driver, firsts, s.label)
		for i := 0; i < firsts; i++ {
			if _, err := provisionAndWait(ctx, c, s.name, q, 1); err != nil {
				f.note("%s provision: %v", s.name, err)
				break
			}
			// Provisioned envs wait for traffic: the first invoke meets a frozen env.
			time.Sleep(300 * time.Millisecond)
			t0 := time.Now()
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(s.name), Qualifier: aws.String(q), Payload: []byte(`{}`), LogType: types.LogTypeTail})
			d := time.Since(t0)
			if err == nil {
				err = checkNoFunctionError(out)
			}
			if err != nil {
				f.note("%s provisioned invoke: %v", s.name, apiError(err))
				break
			}
			p.provFirst = append(p.provFirst, d)
			if tailReport(out).initDuration > 0 {
				p.provInitHit++
			}
			if i == firsts-1 {
				call := func() error {
					_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(s.name), Qualifier: aws.String(q), Payload: []byte(`{}`)})
					return apiError(err)
				}
				p.provWarm, _ = repeat(200, call)
				for range firsts {
					time.Sleep(300 * time.Millisecond)
					t0 := time.Now()
					if err := call(); err != nil {
						break
					}
					p.provIdle = append(p.provIdle, time.Since(t0))
				}
			}
			if _, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String(s.name), Qualifier: aws.String(q)}); err != nil {
				f.note("%s delete config: %v", s.name, apiError(err))
				break
			}
		}
	}

	// Burst: on-demand first, then provisioned.
	if burstN > 0 {
		if err := createBenchFunction(ctx, c, "burst-go", types.RuntimeProvidedal2023, "bootstrap", art.goZip, 128); err != nil {
			f.note("%v", err)
			return f
		}
		pub, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("burst-go")})
		if err != nil {
			f.note("burst publish: %v", apiError(err))
			return f
		}
		q := aws.ToString(pub.Version)
		waitSettled(srv.cmd.Process.Pid, srv.dir, 15*time.Second, 2*time.Second)
		progress("concurrency, %s: %d parallel first invokes on-demand", driver, burstN)
		f.burstOD, err = burst(ctx, c, "burst-go:"+q, []byte(`{}`), burstN, srv.cmd.Process.Pid)
		if err != nil {
			f.note("on-demand burst: %v", err)
		}
		// The on-demand envs go (a new configuration drains them) before provisioning.
		if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("burst-go"), Description: aws.String("provisioned")}); err != nil {
			f.note("burst update: %v", apiError(err))
			return f
		}
		_ = waitFunctionReady(ctx, c, "burst-go")
		pub, err = c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("burst-go")})
		if err != nil {
			f.note("burst publish: %v", apiError(err))
			return f
		}
		q = aws.ToString(pub.Version)
		progress("concurrency, %s: provisioning %d, then %d parallel first invokes", driver, burstN, burstN)
		f.burstReady, err = provisionAndWait(ctx, c, "burst-go", q, burstN)
		if err != nil {
			f.note("provision %d: %v", burstN, err)
			return f
		}
		time.Sleep(time.Second)
		f.burstProv, err = burst(ctx, c, "burst-go:"+q, []byte(`{}`), burstN, srv.cmd.Process.Pid)
		if err != nil {
			f.note("provisioned burst: %v", err)
		}
	}
	return f
}

// provisionAndWait puts a config of n and waits for READY, returning how long
// that took.
func provisionAndWait(ctx context.Context, c *lambda.Client, name, q string, n int) (time.Duration, error) {
	t0 := time.Now()
	if _, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String(name), Qualifier: aws.String(q), ProvisionedConcurrentExecutions: aws.Int32(int32(n))}); err != nil {
		return 0, apiError(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, err := c.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String(name), Qualifier: aws.String(q)})
		if err != nil {
			return 0, apiError(err)
		}
		switch out.Status {
		case types.ProvisionedConcurrencyStatusEnumReady:
			return time.Since(t0), nil
		case types.ProvisionedConcurrencyStatusEnumFailed:
			return 0, fmt.Errorf("FAILED: %s", aws.ToString(out.StatusReason))
		}
	}
	return 0, errors.New("not READY within 3 minutes")
}

func printConcurrencyTables(w io.Writer, all []*concFigures, cost time.Duration, firsts, burstN int, busy string) {
	fmt.Fprintf(w, "\nConcurrency limits and provisioned concurrency, 128 MB (host: %s)\n", busy)
	fmt.Fprintln(w, "\nThe throttle decision: a 429 (reserved concurrency 0) and a warm invoke (no-op Go function), client-side")
	tw := newTable(w)
	fmt.Fprintln(tw, "driver\tcall\tn\tp50\tp99")
	for _, f := range all {
		for _, r := range []struct {
			name string
			lat  []time.Duration
		}{{"429 TooManyRequestsException (reserved 0)", f.throttle}, {"warm invoke, no reservation", f.warmFree}, {"warm invoke, reserved 100", f.warmReserved}} {
			if len(r.lat) > 0 {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.driver, r.name, len(r.lat), fmtDur(medianOf(r.lat)), fmtDur(percentile(r.lat, 0.99)))
			}
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "Counting one execution (Acquire + release, in process): %s", cost)
	for _, f := range all {
		if len(f.warmFree) > 0 {
			share := float64(cost) / float64(medianOf(f.warmFree)) * 100
			fmt.Fprintf(w, "; %.3f %% of %s's warm p50 (goal < 2 %%: %s)", share, f.driver, metWhen(share < 2))
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "\nProvisioned vs on-demand: the first invoke after READY (the env idle 300 ms, so frozen, as provisioned envs wait) against an on-demand cold start, %d each (client-side); the warm figures are the same env afterwards\n", firsts)
	tw = newTable(w)
	fmt.Fprintln(tw, "driver\tfunction\ton-demand cold p50\tInit Duration p50\tprovisioned first p50\tp99\twith Init Duration\twarm p50 (idle 300 ms)\twarm p50 (back to back)\tfirst ÷ cold\tfirst ÷ warm (idle)")
	for _, f := range all {
		for _, p := range f.prov {
			if len(p.provFirst) == 0 {
				continue
			}
			first, idle := medianOf(p.provFirst), medianOf(p.provIdle)
			cold := medianOf(p.onDemand)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d of %d\t%s\t%s\t%s\t%s\n", f.driver, p.label, fmtDur(cold), fmtDur(medianOf(p.odInit)),
				fmtDur(first), fmtDur(percentile(p.provFirst, 0.99)), p.provInitHit, len(p.provFirst), fmtDur(idle), fmtDur(medianOf(p.provWarm)),
				ratio(float64(first), float64(cold)), ratio(float64(first), float64(idle)))
		}
	}
	tw.Flush()

	if burstN > 0 {
		fmt.Fprintf(w, "\nBurst: %d parallel first invokes of a no-op Go function, wall time to the last answer\n", burstN)
		tw = newTable(w)
		fmt.Fprintln(tw, "driver\tenvs\twall\tcold starts\tfailed\tp50\tp99\tprovisioned ÷ on-demand\tPut → READY")
		for _, f := range all {
			if b := f.burstOD; len(b.lat)+b.fails > 0 {
				fmt.Fprintf(tw, "%s\ton-demand\t%s\t%d\t%d\t%s\t%s\t\t\n", f.driver, fmtDur(b.wall), b.cold, b.fails, fmtDur(medianOf(b.lat)), fmtDur(percentile(b.lat, 0.99)))
			}
			if b := f.burstProv; len(b.lat)+b.fails > 0 {
				fmt.Fprintf(tw, "%s\tprovisioned %d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", f.driver, burstN, fmtDur(b.wall), b.cold, b.fails, fmtDur(medianOf(b.lat)), fmtDur(percentile(b.lat, 0.99)),
					ratio(float64(b.wall), float64(f.burstOD.wall)), fmtDur(f.burstReady))
			}
		}
		tw.Flush()
	}
	for _, f := range all {
		for _, n := range f.notes {
			fmt.Fprintf(w, "note (%s): %s\n", f.driver, strings.TrimSpace(n))
		}
	}
}
