package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// The figures issue 6 asks for, by MemorySize: the same no-op function's warm
// invoke at 128 MB (Lambda's default) and at 1,769 MB (one vCPU) on each driver and
// the RIE; the share of a CPU a busy loop gets at each size; and ten parallel first
// invocations of a 1-second Python function at 128 MB.

type sizeBenchOptions struct {
	warm       int // timed warm invokes per size
	warmup     int // untimed warm invokes per size, before the timed ones
	blocks     int // the timed invokes alternate between sizes in this many blocks
	tail       int // invokes with LogType Tail per size, for REPORT Duration
	spin       time.Duration
	spinRuns   int
	parallel   int
	parRounds  int
	sleepMilli int
}

func (o *sizeBenchOptions) addFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.warm, "size-warm", 600, "warm: timed warm invokes per MemorySize per platform")
	fs.IntVar(&o.warmup, "size-warmup", 100, "warm: untimed warm invokes per MemorySize before the timed ones")
	fs.IntVar(&o.blocks, "size-blocks", 6, "warm: the timed invokes alternate between the sizes in this many blocks, so that host noise falls on both")
	fs.IntVar(&o.tail, "size-tail", 120, "warm: invokes with LogType Tail per MemorySize, for the REPORT Duration")
	fs.DurationVar(&o.spin, "spin", 2*time.Second, "cpushare: how long the CPU-bound loop runs per invocation")
	fs.IntVar(&o.spinRuns, "spin-runs", 2, "cpushare: loop invocations per MemorySize (alternating sizes)")
	fs.IntVar(&o.parallel, "parallel", 10, "parallel: first invocations sent at once")
	fs.IntVar(&o.parRounds, "parallel-rounds", 3, "parallel: bursts per driver, each on new envs")
	fs.IntVar(&o.sleepMilli, "parallel-sleep-ms", 1000, "parallel: how long the Python function sleeps")
}

// The two sizes compared: Lambda's default, and the size that buys one vCPU.
const (
	smallMB = 128
	vcpuMB  = 1769
)

var sizesMB = []int{smallMB, vcpuMB}

// spinSource is a CPU-bound Python function that counts its own work: batches of
// a fixed loop until the time asked for has passed, with the count in each whole
// second, so the share can be judged over a second as well as over the run.
const spinSource = `import time


def handler(event, context):
    seconds = float(event.get("seconds", 2))
    t0 = time.monotonic()
    end, mark = t0 + seconds, t0 + 1
    n = last = 0
    per_second = []
    x = 0
    while True:
        for i in range(1000):
            x += i
        n += 1000
        now = time.monotonic()
        if now >= mark:
            per_second.append(n - last)
            last = n
            mark += 1
        if now >= end:
            break
    return {"iterations": n, "seconds": now - t0, "per_second": per_second}
`

// sleepSource is the parallel cold-start function: it only waits.
const sleepSource = `import time


def handler(event, context):
    time.sleep(float(event.get("seconds", 1)))
    return {"slept": event.get("seconds", 1)}
`

// sizeFigures is one platform's warm figures at one MemorySize.
type sizeFigures struct {
	warm      []time.Duration
	reportDur []time.Duration
	cpu       cpuSample // over the timed invokes
	cpuN      int       // invokes cpu covers
}

// spinFigures is one loop invocation's answer.
type spinFigures struct {
	Iterations float64   `json:"iterations"`
	Seconds    float64   `json:"seconds"`
	PerSecond  []float64 `json:"per_second"`
}

func (s spinFigures) rate() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return s.Iterations / s.Seconds
}

// parallelFigures is one burst of first invocations.
type parallelFigures struct {
	wall  time.Duration // first request sent → last answer received
	lat   []time.Duration
	inits []time.Duration // Init Duration of each, from its REPORT line
	cold  int             // answers whose REPORT line had an Init Duration
	cpu   cpuSample
	fails int // invokes that failed (the first failure is burst's error)
}

// sizePlatform is everything the size sections measured on one platform.
type sizePlatform struct {
	name   string
	driver string // "" for the RIE
	bySize map[int]*sizeFigures
	spin   map[int][]spinFigures
	par    []parallelFigures
	notes  []string
}

func (p *sizePlatform) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.notes = append(p.notes, msg)
	fmt.Fprintf(os.Stderr, "bench: %s: %s\n", p.name, msg)
}

func newSizePlatform(name, driver string) *sizePlatform {
	return &sizePlatform{name: name, driver: driver, bySize: map[int]*sizeFigures{}, spin: map[int][]spinFigures{}}
}

func benchSizes(self string, inv *invokeBenchOptions, o *sizeBenchOptions, want map[string]bool) error {
	var drivers []string
	for _, d := range strings.Split(inv.drivers, ",") {
		// The env network's variants ("namespace+net") are measured by the cold
		// starts; the sizes compare drivers as users run them by default.
		if d = strings.TrimSpace(d); d != "" && !strings.HasSuffix(d, netSuffix) {
			drivers = append(drivers, d)
		}
	}
	busy := hostBusy()
	var art *benchArtifacts
	if want["warm"] {
		progress("building the no-op Go function")
		var err error
		if art, err = buildArtifacts(self, inv.fnBootstrap); err != nil {
			return err
		}
		defer art.cleanup()
	}
	spinZip, err := zipFiles(map[string][]byte{"lambda_function.py": []byte(spinSource)}, "")
	if err != nil {
		return err
	}
	sleepZip, err := zipFiles(map[string][]byte{"lambda_function.py": []byte(sleepSource)}, "")
	if err != nil {
		return err
	}

	var peer *sizePlatform
	if want["warm"] && inv.rie {
		peer = rieSizes(art, o)
	}
	var plats []*sizePlatform
	for _, d := range drivers {
		p := newSizePlatform("Hearth "+d, d)
		plats = append(plats, p)
		if want["parallel"] {
			hearthParallel(self, p, sleepZip, o)
		}
		if want["warm"] || want["cpushare"] {
			hearthSizes(self, p, art, spinZip, o, want)
		}
	}
	w := os.Stdout
	fmt.Fprintf(w, "\nBy MemorySize: %d MB (Lambda's default) against %d MB (one vCPU), on %d CPUs (host before: %s; after: %s).\n",
		smallMB, vcpuMB, runtime.NumCPU(), busy, hostBusy())
	if want["warm"] {
		printSizeWarm(w, o, plats, peer)
	}
	if want["cpushare"] {
		printCPUShare(w, o, plats)
	}
	if want["parallel"] {
		printParallel(w, o, plats)
	}
	all := plats
	if peer != nil {
		all = append(all, peer)
	}
	for _, p := range all {
		for _, n := range p.notes {
			fmt.Fprintf(w, "note: %s: %s\n", p.name, n)
		}
	}
	return nil
}

// ---- Hearth ----

// hearthSizes measures warm invokes and the CPU share on one driver, on a server
// with default settings (envs stay up; idle ones are frozen after 100 ms).
func hearthSizes(self string, p *sizePlatform, art *benchArtifacts, spinZip []byte, o *sizeBenchOptions, want map[string]bool) {
	dir, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		p.note("%v", err)
		return
	}
	defer os.RemoveAll(dir)
	progress("%s: starting hearth serve --sandbox %s (by MemorySize)", p.name, p.driver)
	srv, err := startHearth(self, dir, p.driver)
	if err != nil {
		p.note("%v", err)
		return
	}
	defer srv.stop()
	ctx := context.Background()
	c := newBenchClient(srv.addr, 4)
	pid := srv.cmd.Process.Pid

	if want["warm"] {
		fn := func(mb int) string { return fmt.Sprintf("bench-go-%d", mb) }
		ok := true
		for _, mb := range sizesMB {
			if err := createBenchFunction(ctx, c, fn(mb), types.RuntimeProvidedal2023, "bootstrap", art.goZip, mb); err != nil {
				p.note("%v", err)
				ok = false
			}
		}
		if ok {
			p.warmBySize(func(mb int, tail bool) (reportFigures, error) {
				in := &lambda.InvokeInput{FunctionName: aws.String(fn(mb)), Payload: benchEvent}
				if tail {
					in.LogType = types.LogTypeTail
				}
				out, err := c.Invoke(ctx, in)
				if err != nil {
					return reportFigures{}, apiError(err)
				}
				if err := checkEcho(out, benchEvent); err != nil {
					return reportFigures{}, err
				}
				if !tail {
					return reportFigures{}, nil
				}
				rep := tailReport(out)
				if !rep.ok {
					return rep, errors.New("no REPORT line in X-Amz-Log-Result")
				}
				return rep, nil
			}, pid, o)
		}
	}

	if want["cpushare"] {
		fn := func(mb int) string { return fmt.Sprintf("bench-spin-%d", mb) }
		for _, mb := range sizesMB {
			if err := createBenchFunction(ctx, c, fn(mb), types.RuntimePython311, "lambda_function.handler", spinZip, mb); err != nil {
				p.note("%v", err)
				return
			}
		}
		spin := func(mb int, d time.Duration) (spinFigures, error) {
			ev, _ := json.Marshal(map[string]float64{"seconds": d.Seconds()})
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn(mb)), Payload: ev})
			if err != nil {
				return spinFigures{}, apiError(err)
			}
			if err := checkNoFunctionError(out); err != nil {
				return spinFigures{}, err
			}
			var s spinFigures
			if err := json.Unmarshal(out.Payload, &s); err != nil {
				return s, fmt.Errorf("the loop answered %q: %w", out.Payload, err)
			}
			return s, nil
		}
		// The first invocation of each is the cold start; the measured ones are warm.
		for _, mb := range sizesMB {
			if _, err := spin(mb, 100*time.Millisecond); err != nil {
				p.note("CPU-share loop at %d MB: %v", mb, err)
				return
			}
		}
		progress("%s: CPU-bound loop, %s × %d at each size", p.name, o.spin, o.spinRuns)
		for i := 0; i < o.spinRuns; i++ {
			for _, mb := range sizesMB {
				s, err := spin(mb, o.spin)
				if err != nil {
					p.note("CPU-share loop at %d MB: %v", mb, err)
					return
				}
				p.spin[mb] = append(p.spin[mb], s)
			}
		}
	}
}

// warmBySize times warm invokes of the same function at each size, in blocks that
// alternate between the sizes; invoke(mb, tail) makes one call, with LogType Tail
// when tail is set (and then returns its REPORT figures).
func (p *sizePlatform) warmBySize(invoke func(mb int, tail bool) (reportFigures, error), pid int, o *sizeBenchOptions) {
	progress("%s: warm invokes at %v MB (%d each, in %d alternating blocks)", p.name, sizesMB, o.warm, o.blocks)
	for _, mb := range sizesMB {
		p.bySize[mb] = &sizeFigures{}
		for i := 0; i < o.warmup; i++ {
			if _, err := invoke(mb, false); err != nil {
				p.note("warm-up at %d MB: %v", mb, err)
				return
			}
		}
	}
	blocks := max(o.blocks, 1)
	for b := 0; b < blocks; b++ {
		for _, mb := range sizesMB {
			f := p.bySize[mb]
			// The other size idled through the last block and may be frozen: thaw it
			// untimed, as a function invoked back to back would be.
			for i := 0; i < 10; i++ {
				if _, err := invoke(mb, false); err != nil {
					p.note("warm invoke at %d MB: %v", mb, err)
					return
				}
			}
			n := o.warm / blocks
			cpu0 := sampleCPU(pid)
			lat, err := repeat(n, func() error { _, err := invoke(mb, false); return err })
			if err != nil {
				p.note("warm invoke at %d MB: %v", mb, err)
				return
			}
			f.cpu = addCPU(f.cpu, sampleCPU(pid).sub(cpu0))
			f.cpuN += n
			f.warm = append(f.warm, lat...)
			for i := 0; i < o.tail/blocks; i++ {
				rep, err := invoke(mb, true)
				if err != nil {
					p.note("warm invoke with LogType Tail at %d MB: %v", mb, err)
					return
				}
				f.reportDur = append(f.reportDur, rep.duration)
			}
		}
	}
}

func addCPU(a, b cpuSample) cpuSample {
	return cpuSample{a.client + b.client, a.server + b.server, a.init + b.init, a.runtime + b.runtime, a.reaped + b.reaped}
}

// hearthParallel sends bursts of first invocations of the sleeping Python
// function at 128 MB to a fresh server. Each round changes the function's
// configuration, so every invocation of the burst needs a new env, and starts on a
// settled host (the last round's envs reaped, nothing booting).
func hearthParallel(self string, p *sizePlatform, sleepZip []byte, o *sizeBenchOptions) {
	dir, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		p.note("%v", err)
		return
	}
	defer os.RemoveAll(dir)
	progress("%s: starting hearth serve --sandbox %s --idle-ttl 1s (parallel cold starts)", p.name, p.driver)
	srv, err := startHearth(self, dir, p.driver, "--idle-ttl", "1s")
	if err != nil {
		p.note("%v", err)
		return
	}
	defer srv.stop()
	ctx := context.Background()
	c := newBenchClient(srv.addr, o.parallel)
	const name = "bench-sleep"
	if err := createBenchFunction(ctx, c, name, types.RuntimePython311, "lambda_function.handler", sleepZip, smallMB); err != nil {
		p.note("%v", err)
		return
	}
	event, _ := json.Marshal(map[string]float64{"seconds": float64(o.sleepMilli) / 1000})
	for r := 0; r < o.parRounds; r++ {
		if r > 0 {
			_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
				FunctionName: aws.String(name),
				Environment:  &types.Environment{Variables: map[string]string{"HEARTH_BENCH_ROUND": strconv.Itoa(r)}},
			})
			if err != nil {
				p.note("UpdateFunctionConfiguration: %v", apiError(err))
				return
			}
			if err := waitFunctionReady(ctx, c, name); err != nil {
				p.note("%v", err)
				return
			}
		}
		// Quiet, and for gVisor its spares booted, for up to 20 s each: the driver
		// boots spare sandboxes for the next burst with the CPU the last one left (a
		// later round measures a host that has seen such a burst; round 1 one that
		// has not).
		if !waitSettled(srv.cmd.Process.Pid, srv.dir, 30*time.Second, 20*time.Second) {
			p.note("parallel round %d: the last round's envs were not reaped within 30s", r+1)
			return
		}
		if p.driver == "gvisor" {
			waitSpares(srv.dir, 1500*time.Millisecond, 20*time.Second)
		}
		progress("%s: %d parallel first invocations at %d MB, round %d of %d", p.name, o.parallel, smallMB, r+1, o.parRounds)
		f, err := burst(ctx, c, name, event, o.parallel, srv.cmd.Process.Pid)
		if err != nil {
			p.note("parallel round %d: %v", r+1, err)
			return
		}
		if f.cold != o.parallel {
			p.note("parallel round %d: %d of %d answers were cold starts", r+1, f.cold, o.parallel)
		}
		p.par = append(p.par, f)
	}
}

// burst sends n invocations at once and waits for every answer.
func burst(ctx context.Context, c *lambda.Client, name string, event []byte, n, pid int) (parallelFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var f parallelFigures
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	start := make(chan struct{})
	var t0 time.Time
	var last time.Time
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s := time.Now()
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: event, LogType: types.LogTypeTail})
			end := time.Now()
			if err == nil {
				err = checkNoFunctionError(out)
			}
			mu.Lock()
			defer mu.Unlock()
			if end.After(last) {
				last = end
			}
			if err != nil {
				f.fails++
				if firstErr == nil {
					firstErr = apiError(err)
				}
				return
			}
			f.lat = append(f.lat, end.Sub(s))
			if rep := tailReport(out); rep.initDuration > 0 {
				f.cold++
				f.inits = append(f.inits, rep.initDuration)
			}
		}()
	}
	cpu0 := sampleCPU(pid)
	t0 = time.Now()
	close(start)
	wg.Wait()
	f.cpu = sampleCPU(pid).sub(cpu0)
	f.wall = last.Sub(t0) // to the last answer, failures included
	return f, firstErr
}

// ---- the Runtime Interface Emulator ----

// rieSizes measures the emulator's warm invoke with AWS_LAMBDA_FUNCTION_MEMORY_SIZE
// at each size. The emulator limits neither memory nor CPU, so the two differ by
// noise only; each is the peer of Hearth at the same size.
func rieSizes(art *benchArtifacts, o *sizeBenchOptions) *sizePlatform {
	p := newSizePlatform("RIE", "")
	rie, err := rieBinary()
	if err != nil {
		p.note("%v", err)
		return p
	}
	type running struct {
		proc *rieProc
		logs *reportScanner
	}
	procs := map[int]running{}
	defer func() {
		for _, r := range procs {
			r.proc.stop()
		}
	}()
	hc := newRIEClient(2)
	defer hc.CloseIdleConnections()
	// The emulator's Runtime API port is fixed, so one runs at a time: each size
	// is measured whole, one after the other.
	for _, mb := range sizesMB {
		if err := waitPortFree(rieRuntimeAPI, 5*time.Second); err != nil {
			p.note("%v", err)
			return p
		}
		logs := &reportScanner{}
		proc, err := rieStart(rie, art.bootstrap, logs, nil, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(mb))
		if err != nil {
			p.note("%v", err)
			return p
		}
		procs[mb] = running{proc, logs}
		invoke := func() error { return rieInvoke(hc, proc.url, benchEvent) }
		ready := false
		for t0 := time.Now(); time.Since(t0) < 10*time.Second; time.Sleep(time.Millisecond) {
			if invoke() == nil {
				ready = true
				break
			}
		}
		if !ready {
			p.note("the emulator did not answer within 10s")
			return p
		}
		progress("RIE: warm invokes at %d MB (%d)", mb, o.warm)
		f := &sizeFigures{}
		p.bySize[mb] = f
		if _, err := repeat(o.warmup, invoke); err != nil {
			p.note("warm-up at %d MB: %v", mb, err)
			return p
		}
		time.Sleep(50 * time.Millisecond) // the warm-up's last REPORT lines are not timed
		_, mark := logs.durations(0)
		cpu0 := sampleCPU(proc.cmd.Process.Pid)
		if f.warm, err = repeat(o.warm, invoke); err != nil {
			p.note("warm invoke at %d MB: %v", mb, err)
			return p
		}
		f.cpu, f.cpuN = sampleCPU(proc.cmd.Process.Pid).sub(cpu0), o.warm
		time.Sleep(50 * time.Millisecond) // let the last REPORT lines through the pipe
		f.reportDur, _ = logs.durations(mark)
		proc.stop()
		delete(procs, mb)
	}
	return p
}

// ---- tables ----

func mark(ok bool) string {
	if ok {
		return "✔"
	}
	return "✘"
}

func perInv(d time.Duration, n int) string {
	if n == 0 {
		return "—"
	}
	return strconv.FormatInt(d.Microseconds()/int64(n), 10)
}

func printSizeWarm(w io.Writer, o *sizeBenchOptions, plats []*sizePlatform, peer *sizePlatform) {
	all := plats
	if peer != nil {
		all = append(append([]*sizePlatform(nil), plats...), peer)
	}
	fmt.Fprintf(w, "\nWarm invoke by MemorySize: the no-op aws-lambda-go function, concurrency 1, %d timed per size (alternating blocks of %d; Hearth: aws-sdk-go-v2 + SigV4, default serve flags; RIE: plain net/http).\nUnder gVisor hearth-init runs inside the Sentry, so its CPU counts as runtime; the RIE's server column is the emulator.\n",
		o.warm, o.warm/max(o.blocks, 1))
	tw := newTable(w)
	fmt.Fprintln(tw, "platform\tMemorySize\tn\tp50\tp99\tvs RIE (p50)\tREPORT Duration p50\tCPU µs/inv: client · server · hearth-init · runtime\tgoal\tmet")
	for _, p := range all {
		for _, mb := range sizesMB {
			f := p.bySize[mb]
			if f == nil {
				fmt.Fprintf(tw, "%s\t%d MB\t0\t—\t—\t—\t—\t—\t—\tnot measured\n", p.name, mb)
				continue
			}
			var peerP50 float64
			if peer != nil && p != peer && peer.bySize[mb] != nil && len(peer.bySize[mb].warm) > 0 {
				peerP50 = float64(medianOf(peer.bySize[mb].warm))
			}
			p50 := medianOf(f.warm)
			var goals, mets []string
			if p.driver == "gvisor" && peerP50 > 0 {
				goals = append(goals, "p50 ≤ 2× RIE")
				mets = append(mets, mark(len(f.warm) > 0 && float64(p50) <= 2*peerP50))
			}
			if p != peer && mb == smallMB {
				goals = append(goals, "REPORT Duration ≤ 2 ms")
				mets = append(mets, mark(len(f.reportDur) > 0 && medianOf(f.reportDur) <= 2*time.Millisecond))
			}
			c := f.cpu
			split := fmt.Sprintf("%s · %s · %s · %s", perInv(c.client, f.cpuN), perInv(c.server, f.cpuN), perInv(c.init, f.cpuN), perInv(c.runtime, f.cpuN))
			if p == peer {
				split = fmt.Sprintf("%s · %s · — · %s", perInv(c.client, f.cpuN), perInv(c.server, f.cpuN), perInv(c.runtime, f.cpuN))
			}
			rd := "—"
			if len(f.reportDur) > 0 {
				rd = fmt.Sprintf("%s (n %d)", fmtDur(medianOf(f.reportDur)), len(f.reportDur))
			}
			p50s, p99s := "—", "—"
			if len(f.warm) > 0 {
				p50s, p99s = fmtDur(p50), fmtDur(percentile(f.warm, 0.99))
			}
			fmt.Fprintf(tw, "%s\t%d MB\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.name, mb, len(f.warm), p50s, p99s,
				ratio(float64(p50), peerP50), rd, split, dash(strings.Join(goals, "; ")), dash(strings.Join(mets, " ")))
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\nWarm invoke p50, %d MB against %d MB on the same platform\n", smallMB, vcpuMB)
	tw = newTable(w)
	fmt.Fprintln(tw, "platform\t128 MB p50\t1769 MB p50\t128 / 1769\tgoal\tmet")
	for _, p := range all {
		s, v := p.bySize[smallMB], p.bySize[vcpuMB]
		if s == nil || v == nil || len(s.warm) == 0 || len(v.warm) == 0 {
			fmt.Fprintf(tw, "%s\t—\t—\t—\t—\tnot measured\n", p.name)
			continue
		}
		r := float64(medianOf(s.warm)) / float64(medianOf(v.warm))
		goal, met := "≤ 1.3×", mark(r <= 1.3)
		if p == peer {
			goal, met = "—", "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f×\t%s\t%s\n", p.name, fmtDur(medianOf(s.warm)), fmtDur(medianOf(v.warm)), r, goal, met)
	}
	tw.Flush()
}

func printCPUShare(w io.Writer, o *sizeBenchOptions, plats []*sizePlatform) {
	due := float64(smallMB) / float64(vcpuMB)
	fmt.Fprintf(w, "\nCPU share: a CPU-bound Python loop for %s at each size (%d runs each, alternating; iterations/s, median of the runs)\n", o.spin, o.spinRuns)
	tw := newTable(w)
	fmt.Fprintln(tw, "platform\t128 MB\t1769 MB\t128 / 1769\teach whole second at 128 MB / 1769 MB rate\tgoal\tmet")
	for _, p := range plats {
		s, v := p.spin[smallMB], p.spin[vcpuMB]
		if len(s) == 0 || len(v) == 0 {
			fmt.Fprintf(tw, "%s\t—\t—\t—\t—\t—\tnot measured\n", p.name)
			continue
		}
		rs, rv := medianRate(s), medianRate(v)
		r := rs / rv
		var perSec []float64
		for _, x := range s {
			for _, n := range x.PerSecond {
				perSec = append(perSec, n/rv)
			}
		}
		secs := "—"
		if len(perSec) > 0 {
			secs = fmt.Sprintf("%.3f … %.3f", slices.Min(perSec), slices.Max(perSec))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.3f\t%s\t%.3f ± 20%%\t%s\n", p.name, rs, rv, r, secs, due, mark(r >= 0.8*due && r <= 1.2*due))
	}
	tw.Flush()
}

func medianRate(s []spinFigures) float64 {
	r := make([]float64, 0, len(s))
	for _, x := range s {
		r = append(r, x.rate())
	}
	slices.Sort(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

func printParallel(w io.Writer, o *sizeBenchOptions, plats []*sizePlatform) {
	fmt.Fprintf(w, "\nParallel cold starts: %d first invocations at once of a Python function that sleeps %d ms, %d MB; wall = first request sent → last answer (%d rounds)\n",
		o.parallel, o.sleepMilli, smallMB, o.parRounds)
	tw := newTable(w)
	fmt.Fprintln(tw, "platform\trounds\twall round 1\twall p50\twall max\tper call p50\tInit Duration p50\tCPU ms/start: server (+ reaped) · hearth-init · runtime = total\tgoal\tmet")
	for _, p := range plats {
		if len(p.par) == 0 {
			fmt.Fprintf(tw, "%s\t0\t—\t—\t—\t—\t—\t—\t—\tnot measured\n", p.name)
			continue
		}
		var walls, lat, inits []time.Duration
		var cpu cpuSample
		starts := 0
		for _, f := range p.par {
			walls = append(walls, f.wall)
			lat = append(lat, f.lat...)
			inits = append(inits, f.inits...)
			cpu = addCPU(cpu, f.cpu)
			starts += len(f.lat)
		}
		ms := func(d time.Duration) string {
			if starts == 0 {
				return "—"
			}
			return fmt.Sprintf("%.1f", float64(d)/1e6/float64(starts))
		}
		first := walls[0] // before percentile sorts walls
		total := cpu.server + cpu.reaped + cpu.init + cpu.runtime
		split := fmt.Sprintf("%s · %s · %s = %s", ms(cpu.server+cpu.reaped), ms(cpu.init), ms(cpu.runtime), ms(total))
		goal, met := "—", "—"
		switch p.driver {
		case "namespace":
			goal, met = "≤ 1.5 s", mark(medianOf(walls) <= 1500*time.Millisecond)
		case "gvisor":
			goal, met = "≤ 3 s", mark(medianOf(walls) <= 3*time.Second)
		}
		initP50 := "—"
		if len(inits) > 0 {
			initP50 = fmtDur(medianOf(inits))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.name, len(p.par), fmtDur(first), fmtDur(medianOf(walls)), fmtDur(slices.Max(walls)),
			fmtDur(medianOf(lat)), initP50, split, goal, met)
	}
	tw.Flush()
}
