// Command hearth-bench measures a real `hearth serve` (bin/hearth, run as a child
// process) through the real SDK, beside the AWS Lambda Runtime Interface Emulator,
// and prints tables: median, p99 and the goal for each figure. It lives apart from
// cmd/hearth so that the production binary, which the namespace driver re-executes
// on every cold start, carries none of it. `make bench` builds and runs it.
package main

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

const (
	benchKey    = "AKIABENCHBENCHBENCH1"
	benchSecret = "benchsecretbenchsecretbenchsecretbenchse"
)

// sections are the parts -only can name, in the order a full run measures them.
var sections = []string{"control", "invoke", "warm", "cpushare", "parallel", "sdk", "concurrency", "async", "sqs", "esm"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hearth-bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("hearth-bench", flag.ExitOnError)
	only := fs.String("only", "", "comma-separated parts to run, of: "+strings.Join(sections, ",")+" (default: all)")
	hearthBin := fs.String("hearth", "", "the hearth binary to measure (default: hearth beside this binary, else on PATH)")
	starts := fs.Int("starts", 15, "server starts to time")
	creates := fs.Int("creates", 50, "CreateFunction calls with a 1 MB zip")
	gets := fs.Int("gets", 3000, "GetFunction calls")
	lists := fs.Int("lists", 500, "ListFunctions calls (over 50 functions)")
	sdkDrivers := fs.String("sdk-drivers", "gvisor,namespace", "drivers the sdk part measures")
	concDrivers := fs.String("conc-drivers", "gvisor,namespace", "drivers the concurrency part measures")
	concFirsts := fs.Int("conc-firsts", 10, "concurrency part: on-demand cold starts and provisioned first invokes per runtime")
	concThrottles := fs.Int("conc-throttles", 2000, "concurrency part: throttled (429) invokes, and warm invokes with and without a reservation")
	concBurst := fs.Int("conc-burst", 50, "concurrency part: parallel first invokes, on-demand and provisioned (0: skip)")
	asyncDrivers := fs.String("async-drivers", "gvisor,namespace", "drivers the async part measures")
	asyncAccepts := fs.Int("async-accepts", 2000, "async part: Event invokes (and GetFunction calls) timed one by one")
	asyncEvents := fs.Int("async-events", 5000, "async part: events sent at once and timed end to end")
	asyncSenders := fs.Int("async-senders", 32, "async part: callers sending events at once")
	sqsMessages := fs.Int("sqs-messages", 2000, "sqs part: messages sent and received one by one, and again by concurrent callers")
	sqsCallers := fs.Int("sqs-callers", 16, "sqs part: concurrent callers for throughput")
	esmDrivers := fs.String("esm-drivers", "namespace,gvisor", "drivers the esm part measures")
	esmMessages := fs.Int("esm-messages", 300, "esm part: messages sent one at a time through an event source mapping")
	var inv invokeBenchOptions
	inv.addFlags(fs)
	var sz sizeBenchOptions
	sz.addFlags(fs)
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	want, err := parseSections(*only)
	if err != nil {
		return err
	}
	self, err := findHearth(*hearthBin)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if want["control"] {
		if err := benchControl(self, *starts, *creates, *gets, *lists); err != nil {
			return err
		}
	}
	if want["invoke"] {
		if err := benchInvoke(self, &inv); err != nil {
			return err
		}
	}
	if want["warm"] || want["cpushare"] || want["parallel"] {
		if err := benchSizes(self, &inv, &sz, want); err != nil {
			return err
		}
	}
	if want["sdk"] {
		if err := benchSDK(self, &inv, strings.Split(*sdkDrivers, ",")); err != nil {
			return err
		}
	}
	if want["concurrency"] {
		if err := benchConcurrency(self, &inv, strings.Split(*concDrivers, ","), *concFirsts, *concThrottles, *concBurst); err != nil {
			return err
		}
	}
	if want["async"] {
		if err := benchAsync(self, &inv, strings.Split(*asyncDrivers, ","), *asyncAccepts, *asyncEvents, *asyncSenders); err != nil {
			return err
		}
	}
	if want["sqs"] {
		if err := benchSQS(self, *sqsMessages, *sqsCallers); err != nil {
			return err
		}
	}
	if want["esm"] {
		if err := benchESM(self, strings.Split(*esmDrivers, ","), *esmMessages); err != nil {
			return err
		}
	}
	fmt.Printf("\n(whole run: %s)\n", time.Since(t0).Round(time.Second))
	return nil
}

// parseSections reads -only: a comma-separated subset of sections; empty is all.
func parseSections(only string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(sections, s) {
			return nil, fmt.Errorf("-only %q: want some of %s", s, strings.Join(sections, ","))
		}
		want[s] = true
	}
	if len(want) == 0 {
		for _, s := range sections {
			want[s] = true
		}
	}
	return want, nil
}

// findHearth resolves the hearth binary: the flag, else bin/hearth beside
// bin/hearth-bench (what `make bench` built together), else PATH.
func findHearth(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "hearth")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("hearth")
	if err != nil {
		return "", fmt.Errorf("no hearth binary beside this one or on PATH (make build, or pass -hearth): %w", err)
	}
	return filepath.Abs(p)
}

// apiError shows an API error as the AWS CLI does: type, then message.
func apiError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}

// benchControl prints the control-plane table.
func benchControl(self string, starts, creates, gets, lists int) error {
	var rows []benchRow

	// Start to /healthz 200: a fresh data directory, then a restart on a full one.
	var fresh, restart []time.Duration
	for i := 0; i < starts; i++ {
		dir, err := os.MkdirTemp("", "hearth-bench-")
		if err != nil {
			return err
		}
		d, stop, err := timeStart(self, dir)
		if err != nil {
			return err
		}
		stop()
		fresh = append(fresh, d)
		d, stop, err = timeStart(self, dir)
		stop()
		os.RemoveAll(dir)
		if err != nil {
			return err
		}
		restart = append(restart, d)
	}
	rows = append(rows,
		benchRow{"start → /healthz 200 (fresh data dir)", fresh, "≤ 300 ms", 300 * time.Millisecond},
		benchRow{"start → /healthz 200 (restart)", restart, "≤ 300 ms", 300 * time.Millisecond})

	dir, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := startHearth(self, dir, "none")
	if err != nil {
		return err
	}
	defer srv.stop()
	addr := srv.addr
	ctx := context.Background()
	c := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + addr),
		Credentials:  credentials.NewStaticCredentialsProvider(benchKey, benchSecret, ""),
	})

	var createLat []time.Duration
	for i := 0; i < creates; i++ {
		z := oneMegabyteZip()
		t0 := time.Now()
		_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(fmt.Sprintf("bench-%03d", i)),
			Runtime:      types.RuntimeProvidedal2023,
			Handler:      aws.String("bootstrap"),
			Role:         aws.String("arn:aws:iam::000000000000:role/bench"),
			Code:         &types.FunctionCode{ZipFile: z},
		})
		createLat = append(createLat, time.Since(t0))
		if err != nil {
			return fmt.Errorf("CreateFunction: %w", apiError(err))
		}
	}
	rows = append(rows, benchRow{"CreateFunction, 1 MB zip", createLat, "≤ 20 ms", 20 * time.Millisecond})

	getLat, err := repeat(gets, func() error {
		_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("bench-007")})
		return err
	})
	if err != nil {
		return fmt.Errorf("GetFunction: %w", apiError(err))
	}
	rows = append(rows, benchRow{"GetFunction", getLat, "p50 ≤ 1 ms", time.Millisecond})

	listLat, err := repeat(lists, func() error {
		_, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
		return err
	})
	if err != nil {
		return fmt.Errorf("ListFunctions: %w", apiError(err))
	}
	rows = append(rows, benchRow{fmt.Sprintf("ListFunctions (%d functions, 1 page)", creates), listLat, "—", 0})

	printBench(os.Stdout, "Control plane (hearth serve, aws-sdk-go-v2 over loopback HTTP, SigV4)", rows)
	return nil
}

type benchRow struct {
	name    string
	samples []time.Duration
	goal    string
	goalP50 time.Duration // 0: no goal
}

func repeat(n int, f func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

func percentile(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	i := int(p*float64(len(c))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(c) {
		i = len(c) - 1
	}
	return c[i]
}

func printBench(w io.Writer, title string, rows []benchRow) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tn\tp50\tp99\tgoal\tmet")
	for _, r := range rows {
		p50, p99 := percentile(r.samples, 0.5), percentile(r.samples, 0.99)
		met := "—"
		if r.goalP50 > 0 {
			met = "yes"
			if p50 > r.goalP50 {
				met = "NO"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.name, len(r.samples), fmtDur(p50), fmtDur(p99), r.goal, met)
	}
	tw.Flush()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.3f ms", float64(d)/1e6)
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f ms", float64(d)/1e6)
}

// oneMegabyteZip is a 1 MB deployment package: a random (incompressible) binary, as a
// compiled bootstrap roughly is.
func oneMegabyteZip() []byte {
	var buf strings.Builder
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Store}
	h.SetMode(0o755)
	f, _ := zw.CreateHeader(h)
	b := make([]byte, 1<<20)
	_, _ = rand.Read(b)
	_, _ = f.Write(b)
	_ = zw.Close()
	return []byte(buf.String())
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func serverCmd(self, dir, addr string) *exec.Cmd {
	cmd := exec.Command(self, "serve", "--listen", addr, "--data", dir, "--sandbox", "none")
	cmd.Env = append(os.Environ(), "HEARTH_ACCESS_KEY_ID="+benchKey, "HEARTH_SECRET_ACCESS_KEY="+benchSecret)
	return cmd
}

// timeStart measures exec → first 200 from /healthz, polling as fast as a client could.
func timeStart(self, dir string) (time.Duration, func(), error) {
	addr, err := freePort()
	if err != nil {
		return 0, nil, err
	}
	cmd := serverCmd(self, dir, addr)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	stop := func() { stopServer(cmd) }
	hc := &http.Client{Timeout: time.Second}
	for time.Since(t0) < 30*time.Second {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(t0), stop, nil
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	stop()
	return 0, nil, errors.New("hearth serve did not answer /healthz within 30s")
}

// hearthServer is a `hearth serve` child process.
type hearthServer struct {
	addr   string
	dir    string // --data
	cmd    *exec.Cmd
	stderr *lineTail
}

// startHearth starts `hearth serve` on a free port with the given sandbox driver
// (none, gvisor, namespace) and extra serve flags, and waits until it announces its
// address.
//
// Unless extra says otherwise, envs get no network (--egress none): the figures stay
// comparable with earlier runs, and DRIVER+net rows measure what the network (serve's
// default) adds.
func startHearth(self, dir, driver string, extra ...string) (*hearthServer, error) {
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--sandbox", driver}, extra...)
	if !slices.Contains(extra, "--egress") {
		args = append(args, "--egress", "none")
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "HEARTH_ACCESS_KEY_ID="+benchKey, "HEARTH_SECRET_ACCESS_KEY="+benchSecret)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	tail := &lineTail{max: 20}
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	addrCh := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		announced := false
		for sc.Scan() {
			line := sc.Text()
			tail.add(line)
			if i := strings.Index(line, "Lambda API on http://"); i >= 0 && !announced {
				rest := line[i+len("Lambda API on http://"):]
				addrCh <- strings.Fields(rest)[0]
				announced = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case addr := <-addrCh:
		return &hearthServer{addr: addr, dir: dir, cmd: cmd, stderr: tail}, nil
	case <-exited:
		stopServer(cmd)
		return nil, fmt.Errorf("hearth serve --sandbox %s exited: %s", driver, tail.String())
	case <-time.After(30 * time.Second):
		stopServer(cmd)
		return nil, fmt.Errorf("hearth serve (data %s) did not start: %s", filepath.Clean(dir), tail.String())
	}
}

func (s *hearthServer) stop() { stopServer(s.cmd) }

// lineTail keeps the last lines a child wrote, for error messages.
type lineTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

func stopServer(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
