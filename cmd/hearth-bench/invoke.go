package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// The invoke benchmark (issue 3): the same no-op Go function on Hearth (each sandbox
// driver, through the SigV4 API with aws-sdk-go-v2) and on the AWS Lambda Runtime
// Interface Emulator (the peer: a plain child process, no auth, plain HTTP).

type invokeBenchOptions struct {
	drivers     string
	cold        int
	langCold    int
	warm        int
	warmup      int
	probe       int
	tput        time.Duration
	concs       string
	memory      int
	rie         bool
	fnBootstrap string
}

func (o *invokeBenchOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.drivers, "drivers", "namespace,namespace+net,gvisor,gvisor+net", "sandbox drivers to measure, comma-separated; DRIVER+net runs it with an env network (--egress hearth-only), to measure what the network costs a cold start")
	fs.IntVar(&o.cold, "cold", 20, "Go cold starts per platform")
	fs.IntVar(&o.langCold, "lang-cold", 10, "Python and Node cold starts per driver (0: skip)")
	fs.IntVar(&o.warm, "warm", 2000, "timed warm invokes at concurrency 1")
	fs.IntVar(&o.warmup, "warmup", 300, "untimed warm invokes before the timed ones")
	fs.IntVar(&o.probe, "probe", 500, "invokes for each part of the warm-invoke breakdown (Tail, DryRun, stub)")
	fs.DurationVar(&o.tput, "tput", 5*time.Second, "duration of each throughput run (0: skip)")
	fs.StringVar(&o.concs, "concurrency", "1,8", "throughput concurrencies, comma-separated")
	fs.IntVar(&o.memory, "memory", 1769, "MemorySize (MB) of the functions; 1769 MB is one vCPU")
	fs.BoolVar(&o.rie, "rie", true, "measure the Runtime Interface Emulator beside Hearth")
	fs.StringVar(&o.fnBootstrap, "fn-bootstrap", "", "a prebuilt no-op Go bootstrap (default: build cmd/hearth-bench/benchfn)")
}

// platformFigures is everything measured on one platform.
type platformFigures struct {
	name   string // "Hearth namespace", "RIE"
	driver string // "" for the RIE
	err    error  // nothing could be measured
	notes  []string

	cold, coldPy, coldNode          []time.Duration
	coldRep, coldPyRep, coldNodeRep []reportFigures
	// gVisor with --gvisor-preboot=false: runsc's boot on every cold start's path
	coldBoot    []time.Duration
	coldBootRep []reportFigures
	warm        []time.Duration
	warmSDK     []time.Duration // the RIE through aws-sdk-go-v2, as Hearth is called
	tput        []*tputFigures

	// warm-invoke breakdown, each p50 over --probe invokes
	stub      []time.Duration // the client against a stub server: the client's own floor
	dryRun    []time.Duration // Invoke DryRun: SigV4 verify, routing, resolve; no env
	tailTotal []time.Duration // warm Invoke with LogType Tail …
	reportDur []time.Duration // … and the Duration of its REPORT line
}

func (p *platformFigures) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.notes = append(p.notes, msg)
	fmt.Fprintf(os.Stderr, "bench: %s: %s\n", p.name, msg)
}

type tputFigures struct {
	conc     int
	lat      []time.Duration // successful invocations
	errs     int
	firstErr error
	elapsed  time.Duration
	cpu      cpuSample // CPU used during the run; zero when not measured
}

func (t *tputFigures) rate() float64 {
	if t == nil || t.elapsed <= 0 {
		return 0
	}
	return float64(len(t.lat)) / t.elapsed.Seconds()
}

// benchStart is when this run began; progress lines say how far in they are, so a
// slow part shows in the log.
var benchStart = time.Now()

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: [%s] "+format+"\n", append([]any{time.Since(benchStart).Round(time.Second)}, args...)...)
}

var benchEvent = []byte(`{"bench":"hearth","n":1}`)

func benchInvoke(self string, o *invokeBenchOptions) error {
	concs, err := parseInts(o.concs)
	if err != nil {
		return fmt.Errorf("--concurrency: %w", err)
	}
	var drivers []string
	for _, d := range strings.Split(o.drivers, ",") {
		if d = strings.TrimSpace(d); d != "" {
			drivers = append(drivers, d)
		}
	}
	busy := hostBusy()
	progress("building the no-op Go function")
	art, err := buildArtifacts(self, o.fnBootstrap)
	if err != nil {
		return err
	}
	defer art.cleanup()

	var peer *platformFigures
	if o.rie {
		peer = benchRIE(art, o, concs)
	}
	// The client's own ceiling: the same SDK calls answered by a stub HTTP server in
	// this process. On two cores, what the client burns per call bounds every
	// platform's throughput.
	var ceiling *platformFigures
	if o.tput > 0 {
		ceiling = benchClientCeiling(o, concs)
	}
	var plats []*platformFigures
	for _, d := range drivers {
		plats = append(plats, benchHearth(self, d, art, o, concs))
	}
	printInvokeTables(os.Stdout, o, concs, plats, peer, ceiling, busy)
	return nil
}

// hostBusy is how busy the host's CPUs are with other work (the bench is idle
// meanwhile), over one second, with the load average: on a 2-core host, other work
// shows in every figure.
func hostBusy() string {
	read := func() (idle, total uint64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			total += n
			if i == 3 || i == 4 { // idle, iowait
				idle += n
			}
		}
		return idle, total
	}
	i0, t0 := read()
	time.Sleep(time.Second)
	i1, t1 := read()
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			load = f[0]
		}
	}
	if t1 <= t0 {
		return "load average " + load
	}
	return fmt.Sprintf("%.0f%% busy with other work, load average %s", 100*(1-float64(i1-i0)/float64(t1-t0)), load)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// ---- Hearth ----

func newBenchClient(addr string, conns int) *lambda.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
	}
	return lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + addr),
		Credentials:  credentials.NewStaticCredentialsProvider(benchKey, benchSecret, ""),
		HTTPClient:   &http.Client{Transport: tr},
		Retryer:      aws.NopRetryer{},
	})
}

// netSuffix marks a driver measured with an env network.
const netSuffix = "+net"

func benchHearth(self, driver string, art *benchArtifacts, o *invokeBenchOptions, concs []int) *platformFigures {
	f := &platformFigures{name: "Hearth " + driver, driver: driver}
	dir, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		f.err = err
		return f
	}
	defer os.RemoveAll(dir)
	progress("%s: starting hearth serve --sandbox %s", f.name, driver)
	// --idle-ttl 1s: the previous cold-start sample's env is reaped (and waited for)
	// before the next sample is timed, instead of being torn down during it.
	args := []string{"--idle-ttl", "1s"}
	sandbox, withNet := strings.CutSuffix(driver, netSuffix)
	var netArgs []string
	if withNet {
		netArgs = []string{"--egress", "hearth-only", "--env-subnet", "10.213.254.0/24"}
		args = append(args, netArgs...)
	}
	srv, err := startHearth(self, dir, sandbox, args...)
	if err != nil {
		f.err = err
		f.note("%v", err)
		return f
	}
	defer srv.stop()
	ctx := context.Background()
	c := newBenchClient(srv.addr, 16)

	if err := createBenchFunction(ctx, c, "bench-go", types.RuntimeProvidedal2023, "bootstrap", art.goZip, o.memory); err != nil {
		f.err = err
		f.note("%v", err)
		return f
	}
	echo := func(out *lambda.InvokeOutput) error { return checkEcho(out, benchEvent) }

	progress("%s: %d Go cold starts", f.name, o.cold)
	f.cold, f.coldRep, err = hearthColdStarts(ctx, c, srv, "bench-go", o.cold, benchEvent, echo)
	if err != nil {
		f.note("Go cold start: %v", err)
	}
	if sandbox == "gvisor" {
		// The figure above has a sandbox booted ahead from the third sample on; this
		// one pays for runsc's boot on every sample (and, with +net, for the plumbing
		// and runsc's network setup).
		if withNet { // its own subnet: the server above still holds 10.213.254.0/24
			netArgs = []string{"--egress", "hearth-only", "--env-subnet", "10.213.253.0/24"}
		}
		f.coldBoot, f.coldBootRep, err = gvisorColdStartsWithoutPreboot(self, dir+"-noboot", art, o, netArgs...)
		if err != nil {
			f.note("Go cold start, --gvisor-preboot=false: %v", err)
		}
	}
	if o.langCold > 0 && art.pyZip != nil {
		for _, l := range []struct {
			name, handler string
			runtime       types.Runtime
			zip           []byte
			dst           *[]time.Duration
			rep           *[]reportFigures
		}{
			{"bench-python", "lambda_function.lambda_handler", types.RuntimePython311, art.pyZip, &f.coldPy, &f.coldPyRep},
			{"bench-node", "index.handler", types.RuntimeNodejs20x, art.nodeZip, &f.coldNode, &f.coldNodeRep},
		} {
			if err := createBenchFunction(ctx, c, l.name, l.runtime, l.handler, l.zip, o.memory); err != nil {
				f.note("%s: %v", l.name, err)
				continue
			}
			progress("%s: %d %s cold starts", f.name, o.langCold, l.runtime)
			*l.dst, *l.rep, err = hearthColdStarts(ctx, c, srv, l.name, o.langCold, []byte(`{"name":"bench"}`), checkNoFunctionError)
			if err != nil {
				f.note("%s cold start: %v", l.runtime, err)
			}
		}
	}

	invoke := func() error {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("bench-go"), Payload: benchEvent})
		if err != nil {
			return apiError(err)
		}
		return echo(out)
	}
	progress("%s: %d warm invokes at concurrency 1 (after %d to warm up)", f.name, o.warm, o.warmup)
	if _, err := repeat(o.warmup, invoke); err != nil {
		f.note("warm-up: %v", err)
	} else if f.warm, err = repeat(o.warm, invoke); err != nil {
		f.note("warm invoke: %v", err)
	}

	if o.probe > 0 {
		progress("%s: breakdown of a warm invoke (%d each: LogType Tail, DryRun, stub server)", f.name, o.probe)
		for i := 0; i < o.probe; i++ {
			t0 := time.Now()
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("bench-go"), Payload: benchEvent, LogType: types.LogTypeTail})
			d := time.Since(t0)
			if err == nil {
				err = echo(out)
			}
			if err != nil {
				f.note("Invoke with LogType Tail: %v", apiError(err))
				break
			}
			rep := tailReport(out)
			if !rep.ok {
				f.note("Invoke with LogType Tail: no REPORT line in X-Amz-Log-Result")
				break
			}
			f.tailTotal = append(f.tailTotal, d)
			f.reportDur = append(f.reportDur, rep.duration)
		}
		f.dryRun, err = repeat(o.probe, func() error {
			_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("bench-go"), Payload: benchEvent, InvocationType: types.InvocationTypeDryRun})
			return apiError(err)
		})
		if err != nil {
			f.note("Invoke DryRun: %v", err)
		}
		f.stub, err = sdkStubLatency(o.probe, o.warmup)
		if err != nil {
			f.note("stub server: %v", err)
		}
	}

	if o.tput > 0 {
		for _, n := range concs {
			if n > 1 {
				// Scale out to n envs first; their cold starts are not throughput.
				progress("%s: warming %d envs", f.name, n)
				if err := warmEnvs(ctx, c, "bench-go", n); err != nil {
					f.note("warming %d envs: %v", n, err)
				}
			}
			progress("%s: throughput at concurrency %d for %s", f.name, n, o.tput)
			t := runConcurrent(n, o.tput, invoke, srv.cmd.Process.Pid)
			if t.errs > 0 {
				f.note("throughput at concurrency %d: %d failed calls, first: %v", n, t.errs, t.firstErr)
			}
			f.tput = append(f.tput, t)
		}
	}
	return f
}

// warmEnvs runs n concurrent invokes in rounds until a whole round had no cold
// start, so that n envs are up and warm.
func warmEnvs(ctx context.Context, c *lambda.Client, name string, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var mu sync.Mutex
		cold := 0
		t := runConcurrent(n, 500*time.Millisecond, func() error {
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: benchEvent, LogType: types.LogTypeTail})
			if err != nil {
				return apiError(err)
			}
			if tailReport(out).initDuration > 0 {
				mu.Lock()
				cold++
				mu.Unlock()
			}
			return nil
		}, 0)
		if t.errs > 0 {
			return fmt.Errorf("%d failed invokes, first: %v", t.errs, t.firstErr)
		}
		if cold == 0 {
			return nil
		}
	}
	return errors.New("envs were still starting after 30s")
}

func createBenchFunction(ctx context.Context, c *lambda.Client, name string, rt types.Runtime, handler string, zip []byte, memory int) error {
	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      rt,
		Handler:      aws.String(handler),
		Role:         aws.String("arn:aws:iam::000000000000:role/bench"),
		Code:         &types.FunctionCode{ZipFile: zip},
		MemorySize:   aws.Int32(int32(memory)),
		Timeout:      aws.Int32(30),
	})
	if err != nil {
		return fmt.Errorf("CreateFunction %s: %w", name, apiError(err))
	}
	return waitFunctionReady(ctx, c, name)
}

// waitFunctionReady polls as the function-active-v2 / function-updated-v2 waiters do.
func waitFunctionReady(ctx context.Context, c *lambda.Client, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("GetFunctionConfiguration %s: %w", name, apiError(err))
		}
		if out.State == types.StateActive && (out.LastUpdateStatus == "" || out.LastUpdateStatus == types.LastUpdateStatusSuccessful) {
			return nil
		}
		if out.State == types.StateFailed || out.LastUpdateStatus == types.LastUpdateStatusFailed {
			return fmt.Errorf("function %s: State %s, LastUpdateStatus %s: %s", name, out.State, out.LastUpdateStatus, aws.ToString(out.StateReason))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("function %s not ready after 30s (State %s, LastUpdateStatus %s)", name, out.State, out.LastUpdateStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hearthColdStarts times n cold starts of name: each sample changes an environment
// variable (new configuration → the next invoke needs a new env), waits until the
// previous env is gone, then times the Invoke call alone. The REPORT line (LogType
// Tail) must carry an Init Duration, which Hearth writes only on a cold start.
func hearthColdStarts(ctx context.Context, c *lambda.Client, srv *hearthServer, name string, n int, event []byte, check func(*lambda.InvokeOutput) error) ([]time.Duration, []reportFigures, error) {
	var lat []time.Duration
	var reps []reportFigures
	for i := 0; i < n; i++ {
		_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name),
			Environment:  &types.Environment{Variables: map[string]string{"HEARTH_BENCH_SAMPLE": strconv.Itoa(i)}},
		})
		if err != nil {
			return lat, reps, fmt.Errorf("UpdateFunctionConfiguration: %w", apiError(err))
		}
		if err := waitFunctionReady(ctx, c, name); err != nil {
			return lat, reps, err
		}
		if !waitSettled(srv.cmd.Process.Pid, srv.dir, 15*time.Second, 2*time.Second) {
			return lat, reps, errors.New("the previous sample's env was not reaped within 15s")
		}
		t0 := time.Now()
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: event, LogType: types.LogTypeTail})
		d := time.Since(t0)
		if err != nil {
			return lat, reps, fmt.Errorf("Invoke: %w", apiError(err))
		}
		if err := check(out); err != nil {
			return lat, reps, err
		}
		rep := tailReport(out)
		if rep.initDuration == 0 {
			return lat, reps, fmt.Errorf("sample %d was not a cold start (no Init Duration in its REPORT line)", i)
		}
		lat = append(lat, d)
		reps = append(reps, rep)
	}
	return lat, reps, nil
}

func tailReport(out *lambda.InvokeOutput) reportFigures {
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		return reportFigures{}
	}
	return parseReport(string(b))
}

func checkNoFunctionError(out *lambda.InvokeOutput) error {
	if out.FunctionError != nil {
		return fmt.Errorf("function error %s: %s", *out.FunctionError, out.Payload)
	}
	return nil
}

func checkEcho(out *lambda.InvokeOutput, event []byte) error {
	if err := checkNoFunctionError(out); err != nil {
		return err
	}
	if !bytes.Equal(bytes.TrimSpace(out.Payload), event) {
		return fmt.Errorf("the function answered %q, want the event %q back", out.Payload, event)
	}
	return nil
}

// runConcurrent calls f from n goroutines for d, and measures the CPU time this
// process (the client) used, and with a server pid the server and its envs.
func runConcurrent(n int, d time.Duration, f func() error, server int) *tputFigures {
	t := &tputFigures{conc: n}
	cpu0 := sampleCPU(server)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			errs := 0
			var first error
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := f(); err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			t.lat = append(t.lat, lat...)
			t.errs += errs
			if t.firstErr == nil {
				t.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.elapsed = time.Since(start)
	t.cpu = sampleCPU(server).sub(cpu0)
	return t
}

// stubServer answers every POST with its body, as Invoke answers for the no-op
// function: the floor under any invoke through the same client.
func stubServer() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// sdkStubLatency times the SDK's Invoke (sign, send, parse) against the stub.
func sdkStubLatency(n, warmup int) ([]time.Duration, error) {
	addr, stop, err := stubServer()
	if err != nil {
		return nil, err
	}
	defer stop()
	c := newBenchClient(addr, 4)
	ctx := context.Background()
	call := func() error {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("bench-go"), Payload: benchEvent})
		if err != nil {
			return err
		}
		return checkEcho(out, benchEvent)
	}
	if _, err := repeat(warmup, call); err != nil {
		return nil, err
	}
	return repeat(n, call)
}

// httpStubLatency times a plain net/http POST against the stub (the RIE's client).
func httpStubLatency(n, warmup int) ([]time.Duration, error) {
	addr, stop, err := stubServer()
	if err != nil {
		return nil, err
	}
	defer stop()
	hc := newRIEClient(4)
	defer hc.CloseIdleConnections()
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	call := func() error { return rieInvoke(hc, url, benchEvent) }
	if _, err := repeat(warmup, call); err != nil {
		return nil, err
	}
	return repeat(n, call)
}

// benchClientCeiling runs the throughput loop against the stub server.
func benchClientCeiling(o *invokeBenchOptions, concs []int) *platformFigures {
	f := &platformFigures{name: "client ceiling: aws-sdk-go-v2 → in-process stub"}
	addr, stop, err := stubServer()
	if err != nil {
		f.note("%v", err)
		return f
	}
	defer stop()
	c := newBenchClient(addr, 16)
	call := func() error {
		out, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("bench-go"), Payload: benchEvent})
		if err != nil {
			return err
		}
		return checkEcho(out, benchEvent)
	}
	if _, err := repeat(o.warmup, call); err != nil {
		f.note("%v", err)
		return f
	}
	for _, n := range concs {
		progress("client ceiling: throughput against a stub server at concurrency %d for %s", n, o.tput)
		f.tput = append(f.tput, runConcurrent(n, o.tput, call, 0))
	}
	return f
}

// ---- the Runtime Interface Emulator ----

func newRIEClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

func benchRIE(art *benchArtifacts, o *invokeBenchOptions, concs []int) *platformFigures {
	f := &platformFigures{name: "RIE"}
	rie, err := rieBinary()
	if err != nil {
		f.err = err
		f.note("%v", err)
		return f
	}
	if err := waitPortFree(rieRuntimeAPI, 2*time.Second); err != nil {
		f.err = err
		f.note("%v", err)
		return f
	}
	progress("RIE: %d cold starts", o.cold)
	for i := 0; i < o.cold; i++ {
		d, rep, err := rieColdStart(rie, art.bootstrap, benchEvent)
		if err != nil {
			f.note("cold start: %v", err)
			break
		}
		f.cold = append(f.cold, d)
		f.coldRep = append(f.coldRep, rep)
	}

	if err := waitPortFree(rieRuntimeAPI, 5*time.Second); err != nil {
		f.note("%v", err)
		return f
	}
	logs := &reportScanner{}
	p, err := rieStart(rie, art.bootstrap, logs, nil)
	if err != nil {
		f.note("%v", err)
		return f
	}
	defer p.stop()
	hc := newRIEClient(16)
	defer hc.CloseIdleConnections()
	invoke := func() error { return rieInvoke(hc, p.url, benchEvent) }
	// The first invoke also waits for the emulator to listen and runs the init.
	ready := false
	for t0 := time.Now(); time.Since(t0) < 10*time.Second; time.Sleep(time.Millisecond) {
		if invoke() == nil {
			ready = true
			break
		}
	}
	if !ready {
		f.note("the emulator did not answer within 10s")
		return f
	}
	progress("RIE: %d warm invokes at concurrency 1 (after %d to warm up)", o.warm, o.warmup)
	if _, err := repeat(o.warmup, invoke); err != nil {
		f.note("warm-up: %v", err)
	} else if f.warm, err = repeat(o.warm, invoke); err != nil {
		f.note("warm invoke: %v", err)
	}
	// The same SDK call as for Hearth: the RIE answers Lambda's Invoke path for a
	// function named "function" and ignores the signature.
	sdk := newBenchClient(strings.TrimSuffix(strings.TrimPrefix(p.url, "http://"), "/2015-03-31/functions/function/invocations"), 4)
	sdkInvoke := func() error {
		out, err := sdk.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("function"), Payload: benchEvent})
		if err != nil {
			return err
		}
		return checkEcho(out, benchEvent)
	}
	if _, err := repeat(o.warmup, sdkInvoke); err != nil {
		f.note("warm-up through aws-sdk-go-v2: %v", err)
	} else if f.warmSDK, err = repeat(o.warm, sdkInvoke); err != nil {
		f.note("warm invoke through aws-sdk-go-v2: %v", err)
	}
	if o.probe > 0 {
		_, mark := logs.durations(0)
		var err error
		if f.tailTotal, err = repeat(o.probe, invoke); err != nil {
			f.note("probe: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // let the last REPORT lines through the pipe
		f.reportDur, _ = logs.durations(mark)
		if f.stub, err = httpStubLatency(o.probe, o.warmup); err != nil {
			f.note("stub server: %v", err)
		}
	}
	if o.tput > 0 {
		// The emulator serves one invocation at a time, and a second one arriving
		// meanwhile crashes it (checked below); so concurrent callers queue on the
		// client side, as a developer's tooling in front of it has to.
		var one sync.Mutex
		queued := func() error {
			one.Lock()
			defer one.Unlock()
			return invoke()
		}
		for _, n := range concs {
			progress("RIE: throughput at concurrency %d for %s", n, o.tput)
			t := runConcurrent(n, o.tput, queued, p.cmd.Process.Pid)
			if t.errs > 0 {
				f.note("throughput at concurrency %d: %d failed calls, first: %v", n, t.errs, t.firstErr)
			}
			f.tput = append(f.tput, t)
		}
		p.stop()
		if slices.ContainsFunc(concs, func(n int) bool { return n > 1 }) {
			if msg := rieConcurrentProbe(rie, art.bootstrap); msg != "" {
				f.note("%s", msg)
			}
		}
	}
	return f
}

// rieConcurrentProbe sends rounds of concurrent invocations to a fresh emulator
// and says what happened to it.
func rieConcurrentProbe(rie, bootstrap string) string {
	if err := waitPortFree(rieRuntimeAPI, 5*time.Second); err != nil {
		return err.Error()
	}
	stderr := &lockedBuffer{}
	p, err := rieStart(rie, bootstrap, nil, stderr)
	if err != nil {
		return err.Error()
	}
	defer p.stop()
	hc := newRIEClient(8)
	defer hc.CloseIdleConnections()
	ready := false
	for t0 := time.Now(); time.Since(t0) < 10*time.Second; time.Sleep(time.Millisecond) {
		if rieInvoke(hc, p.url, benchEvent) == nil {
			ready = true
			break
		}
	}
	if !ready {
		return "concurrency probe: the emulator did not answer"
	}
	const rounds, conc = 20, 8
	failed := 0
	var firstErr error
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < conc; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := rieInvoke(hc, p.url, benchEvent); err != nil {
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		select {
		case <-p.done:
			why := "it exits"
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(line, "panic: ") {
					why = line
					break
				}
			}
			return fmt.Sprintf("%d concurrent invocations crashed the RIE in round %d of %d (%s), so its concurrent callers were queued client-side", conc, r+1, rounds, why)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Sprintf("%d rounds of %d concurrent invocations: %d of %d failed (first: %v); the RIE survived; its concurrent callers were queued client-side", rounds, conc, failed, rounds*conc, firstErr)
}

// ---- tables ----

type invokeRow struct {
	name    string
	samples []time.Duration
	extra   string  // an extra column's value, when the table has one
	peer    float64 // the peer's p50 (ns) or rate, for the ratio; 0: none
	rate    float64 // invocations/s (throughput rows)
	errs    int
	goal    string
	met     string // yes, NO, — (no goal), or why not measured
}

func medianOf(s []time.Duration) time.Duration { return percentile(s, 0.5) }

func ratio(v, peer float64) string {
	if v <= 0 || peer <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v/peer)
}

func metWhen(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func printInvokeTables(w io.Writer, o *invokeBenchOptions, concs []int, plats []*platformFigures, peer, ceiling *platformFigures, busy string) {
	all := append([]*platformFigures(nil), plats...)
	if peer != nil {
		all = append(all, peer)
	}
	fmt.Fprintf(w, "\nInvoke path: one no-op Go function (aws-lambda-go, returns its event, provided.al2023), MemorySize %d MB%s, on %d CPUs\n(host before the run: %s; after: %s).\n",
		o.memory, map[bool]string{true: " = 1 vCPU", false: ""}[o.memory == 1769], runtime.NumCPU(), busy, hostBusy())
	fmt.Fprintf(w, "Hearth: aws-sdk-go-v2 Invoke (SigV4) over loopback, hearth serve --idle-ttl 1s (else defaults: --freeze-after 100ms).\n")
	fmt.Fprintf(w, "Peer (\"vs RIE\"): AWS Lambda Runtime Interface Emulator %s, plain net/http POST, no auth, no sandbox.\n", rieVersion)

	if len(all) > 0 {
		printLatencyTables(w, o, all, peer)
	}
	var rows []invokeRow
	if o.tput > 0 {
		rows = nil
		var bounds []string
		for _, n := range concs {
			var peerRate float64
			if peer != nil {
				peerRate = tputAt(peer, n).rate()
			}
			tputPlats := all
			if ceiling != nil {
				tputPlats = append(append([]*platformFigures(nil), all...), ceiling)
			}
			for _, p := range tputPlats {
				t := tputAt(p, n)
				r := invokeRow{name: fmt.Sprintf("%s, concurrency %d", p.name, n), met: "—", rate: t.rate()}
				if t != nil {
					r.samples, r.errs = t.lat, t.errs
					if n := len(t.lat); n > 0 {
						per := func(d time.Duration) int64 { return d.Microseconds() / int64(n) }
						r.extra = fmt.Sprintf("%d · %d · %d · %d", per(t.cpu.client), per(t.cpu.server), per(t.cpu.init), per(t.cpu.runtime))
						if p == peer {
							r.extra = fmt.Sprintf("%d · %d · — · %d", per(t.cpu.client), per(t.cpu.server), per(t.cpu.runtime))
						}
						if p == ceiling {
							r.extra = fmt.Sprintf("%d (client and stub)", per(t.cpu.client))
						}
					}
				}
				if p != peer && p != ceiling {
					r.peer = peerRate
				}
				if p.driver == "namespace" && n == 8 {
					r.goal, r.met = "≥ 5,000/s", metWhen(r.rate >= 5000)
					if t != nil && len(t.lat) > 0 {
						bounds = append(bounds, cpuBound(p.name, t))
					}
				}
				rows = append(rows, r)
			}
		}
		printThroughputTable(w, fmt.Sprintf("Throughput, invocations/s over %s (Hearth: one env per concurrent invocation, warmed first; the RIE serves one at a time)", o.tput), rows)
		for _, b := range bounds {
			fmt.Fprintln(w, b)
		}
	}

	// Python and Node.
	if o.langCold > 0 && len(plats) > 0 {
		rows = nil
		for _, p := range plats {
			for _, l := range []struct {
				what string
				s    []time.Duration
				rep  []reportFigures
				goal time.Duration
			}{
				{"python3.11 (examples/python)", p.coldPy, p.coldPyRep, 40 * time.Millisecond},
				{"nodejs20.x (examples/node)", p.coldNode, p.coldNodeRep, 80 * time.Millisecond},
			} {
				r := invokeRow{name: p.name + ", " + l.what, samples: l.s, extra: coldParts(l.s, l.rep), met: "—"}
				if p.driver == "namespace" {
					r.goal = fmt.Sprintf("p50 ≤ %d ms", l.goal/time.Millisecond)
					r.met = metWhen(len(l.s) > 0 && medianOf(l.s) <= l.goal)
				}
				rows = append(rows, r)
			}
		}
		printInvokeTable(w, fmt.Sprintf("Cold start to first response, Python and Node (MemorySize %d MB; host interpreters)", o.memory), coldColumns, rows)
	}

	if o.probe > 0 && len(all) > 0 {
		printBreakdown(w, o, all, peer)
	}

	if ceiling != nil {
		all = append(all, ceiling)
	}
	for _, p := range all {
		for _, n := range p.notes {
			fmt.Fprintf(w, "note: %s: %s\n", p.name, n)
		}
	}
}

// printLatencyTables prints the Go cold start and warm invoke tables.
func printLatencyTables(w io.Writer, o *invokeBenchOptions, all []*platformFigures, peer *platformFigures) {
	peerP50 := func(s []time.Duration) float64 {
		if peer == nil || len(s) == 0 {
			return 0
		}
		return float64(medianOf(s))
	}

	// Cold start, Go.
	var rows []invokeRow
	for _, p := range all {
		r := invokeRow{name: p.name, samples: p.cold, met: "—", extra: coldParts(p.cold, p.coldRep)}
		if p != peer && peer != nil {
			r.peer = peerP50(peer.cold)
		}
		switch strings.TrimSuffix(p.driver, netSuffix) { // the network's own goal is its cost against the driver alone
		case "namespace":
			r.goal, r.met = "p50 ≤ 15 ms", metWhen(len(p.cold) > 0 && medianOf(p.cold) <= 15*time.Millisecond)
		case "gvisor":
			r.goal, r.met = "p50 ≤ 150 ms", metWhen(len(p.cold) > 0 && medianOf(p.cold) <= 150*time.Millisecond)
		}
		rows = append(rows, r)
		if len(p.coldBoot) > 0 {
			r := invokeRow{name: p.name + ", --gvisor-preboot=false", samples: p.coldBoot, met: "—", extra: coldParts(p.coldBoot, p.coldBootRep)}
			if peer != nil {
				r.peer = peerP50(peer.cold)
			}
			rows = append(rows, r)
		}
	}
	printInvokeTable(w, "Cold start to first response, Go (Hearth: a configuration change, then the Invoke call alone; RIE: process start → first response)", coldColumns, rows)

	// Warm latency.
	rows = nil
	for _, p := range all {
		r := invokeRow{name: p.name, samples: p.warm, met: "—"}
		if p != peer && peer != nil {
			r.peer = peerP50(peer.warm)
		}
		switch p.driver {
		case "namespace":
			r.goal = "p50 ≤ 0.35 ms, p99 ≤ 1.5 ms"
			r.met = metWhen(len(p.warm) > 0 && medianOf(p.warm) <= 350*time.Microsecond && percentile(p.warm, 0.99) <= 1500*time.Microsecond)
		case "gvisor":
			r.goal, r.met = "p50 ≤ 0.7 ms", metWhen(len(p.warm) > 0 && medianOf(p.warm) <= 700*time.Microsecond)
		case "":
			r.name = "RIE (net/http, no SigV4)"
		}
		rows = append(rows, r)
		if p == peer && len(p.warmSDK) > 0 {
			rows = append(rows, invokeRow{name: "RIE (aws-sdk-go-v2 as for Hearth; signature ignored)", samples: p.warmSDK, peer: peerP50(peer.warm), met: "—"})
		}
	}
	printInvokeTable(w, fmt.Sprintf("Warm invoke latency, concurrency 1 (after %d warm-up invokes; back-to-back invokes never idle 100 ms, so no freeze/thaw)", o.warmup), "", rows)
}

func tputAt(p *platformFigures, conc int) *tputFigures {
	for _, t := range p.tput {
		if t.conc == conc {
			return t
		}
	}
	return nil
}

// coldParts is the cold-start table's extra columns: the p50 of the runtime's
// init phase as its REPORT line says (Init Duration), and of the rest of each
// sample (sandbox boot, runtime process start, the invoke itself, the API).
func coldParts(total []time.Duration, reps []reportFigures) string {
	var init, rest []time.Duration
	for i, r := range reps {
		if r.initDuration > 0 && i < len(total) {
			init = append(init, r.initDuration)
			rest = append(rest, total[i]-r.initDuration)
		}
	}
	if len(init) == 0 {
		return "—\t—"
	}
	return fmtDur(medianOf(init)) + "\t" + fmtDur(medianOf(rest))
}

const coldColumns = "Init Duration p50\trest p50 (total − Init)"

func printInvokeTable(w io.Writer, title, extra string, rows []invokeRow) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := newTable(w)
	head := "figure\tn\tp50\tp99\tvs RIE (p50)"
	if extra != "" {
		head += "\t" + extra
	}
	fmt.Fprintln(tw, head+"\tgoal\tmet")
	for _, r := range rows {
		p50, p99 := "—", "—"
		if len(r.samples) > 0 {
			p50, p99 = fmtDur(medianOf(r.samples)), fmtDur(percentile(r.samples, 0.99))
		}
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s", r.name, len(r.samples), p50, p99, ratio(float64(medianOf(r.samples)), r.peer))
		if extra != "" {
			line += "\t" + r.extra
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", line, dash(r.goal), r.met)
	}
	tw.Flush()
}

// cpuBound says what the CPU a throughput run used allows: every invocation costs
// the client's and the runtime's CPU whatever Hearth does, so even a Hearth that
// cost nothing could not pass cores / (client + runtime) per second.
func cpuBound(name string, t *tputFigures) string {
	n := time.Duration(len(t.lat))
	c := t.cpu
	total := (c.client + c.server + c.init + c.runtime) / n
	others := (c.client + c.runtime) / n
	cores := runtime.NumCPU()
	bound := func(d time.Duration) float64 { return float64(cores) * float64(time.Second) / float64(d) }
	return fmt.Sprintf("bound: %s at concurrency 8 used %d µs of CPU per invocation, %d µs of it in the client and the function's runtime; "+
		"%d CPUs allow %.0f/s at that cost, and %.0f/s if Hearth's own parts (server, hearth-init) cost nothing",
		name, total.Microseconds(), others.Microseconds(), cores, bound(total), bound(others))
}

func printThroughputTable(w io.Writer, title string, rows []invokeRow) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := newTable(w)
	fmt.Fprintln(tw, "figure\tn\tinvocations/s\tvs RIE\tp50\tp99\tfailed\tCPU µs/inv: client · server · hearth-init · runtime\tgoal\tmet")
	for _, r := range rows {
		p50, p99 := "—", "—"
		if len(r.samples) > 0 {
			p50, p99 = fmtDur(medianOf(r.samples)), fmtDur(percentile(r.samples, 0.99))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.name, len(r.samples), r.rate, ratio(r.rate, r.peer), p50, p99, r.errs, dash(r.extra), dash(r.goal), r.met)
	}
	tw.Flush()
}

// printBreakdown splits a warm invoke's median into the parts measured apart.
// Medians of different runs do not add exactly; the parts are estimates.
func printBreakdown(w io.Writer, o *invokeBenchOptions, all []*platformFigures, peer *platformFigures) {
	fmt.Fprintf(w, "\nWhere a warm invoke's time goes (p50 of %d each; differences of medians, so estimates)\n", o.probe)
	tw := newTable(w)
	head := "part"
	for _, p := range all {
		head += "\t" + p.name
	}
	fmt.Fprintln(tw, head)
	cell := func(d time.Duration, ok bool) string {
		if !ok {
			return "—"
		}
		return fmtDur(d)
	}
	line := func(name string, f func(p *platformFigures) (time.Duration, bool)) {
		s := name
		for _, p := range all {
			s += "\t" + cell(f(p))
		}
		fmt.Fprintln(tw, s)
	}
	m := func(s []time.Duration) (time.Duration, bool) { return medianOf(s), len(s) > 0 }
	line("total: warm invoke (Hearth: with LogType Tail)", func(p *platformFigures) (time.Duration, bool) { return m(p.tailTotal) })
	line("client: the same call against a stub HTTP server", func(p *platformFigures) (time.Duration, bool) { return m(p.stub) })
	line("edge: Invoke DryRun − stub (SigV4 verify, route, resolve)", func(p *platformFigures) (time.Duration, bool) {
		if len(p.dryRun) == 0 || len(p.stub) == 0 {
			return 0, false
		}
		return medianOf(p.dryRun) - medianOf(p.stub), true
	})
	line("env round trip: REPORT Duration", func(p *platformFigures) (time.Duration, bool) { return m(p.reportDur) })
	line("rest: total − DryRun − REPORT (Hearth) / total − stub − REPORT (RIE)", func(p *platformFigures) (time.Duration, bool) {
		if len(p.tailTotal) == 0 || len(p.reportDur) == 0 {
			return 0, false
		}
		base := p.dryRun
		if p == peer {
			base = p.stub
		}
		if len(base) == 0 {
			return 0, false
		}
		return medianOf(p.tailTotal) - medianOf(base) - medianOf(p.reportDur), true
	})
	tw.Flush()
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// lockedBuffer is a bytes.Buffer a child process and the bench may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gvisorColdStartsWithoutPreboot measures Go cold starts on a server that boots
// every gVisor sandbox on the cold start's path.
func gvisorColdStartsWithoutPreboot(self, dir string, art *benchArtifacts, o *invokeBenchOptions, extraArgs ...string) ([]time.Duration, []reportFigures, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	progress("Hearth gvisor: %d Go cold starts with --gvisor-preboot=false %s", o.cold, strings.Join(extraArgs, " "))
	srv, err := startHearth(self, dir, "gvisor", append([]string{"--idle-ttl", "1s", "--gvisor-preboot=false"}, extraArgs...)...)
	if err != nil {
		return nil, nil, err
	}
	defer srv.stop()
	ctx := context.Background()
	c := newBenchClient(srv.addr, 2)
	if err := createBenchFunction(ctx, c, "bench-go", types.RuntimeProvidedal2023, "bootstrap", art.goZip, o.memory); err != nil {
		return nil, nil, err
	}
	return hearthColdStarts(ctx, c, srv, "bench-go", o.cold, benchEvent, func(out *lambda.InvokeOutput) error { return checkEcho(out, benchEvent) })
}
