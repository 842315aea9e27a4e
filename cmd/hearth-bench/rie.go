package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The peer: the AWS Lambda Runtime Interface Emulator, what developers run locally
// today. It runs the function's bootstrap as a plain child process (no sandbox), has
// no authentication, and serves one invocation at a time.

const (
	rieModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
	// rieRuntimeAPI is where the RIE serves its Runtime API to the bootstrap; it is
	// not configurable through the emulator's front end, so nothing else on the host
	// may listen there while it runs.
	rieRuntimeAPI = "127.0.0.1:9001"
)

// rieBinary returns the emulator, built from the Go module proxy once and cached
// under the temp dir.
func rieBinary() (string, error) {
	dir := filepath.Join(os.TempDir(), "hearth-bench-rie-"+rieVersion)
	bin := filepath.Join(dir, "aws-lambda-rie")
	if fi, err := os.Stat(bin); err == nil && fi.Mode()&0o111 != 0 {
		return bin, nil
	}
	src, err := os.MkdirTemp("", "hearth-bench-rie-src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	goBin := goTool()
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	run := func(args ...string) error {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = src
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	fmt.Fprintf(os.Stderr, "building the Lambda Runtime Interface Emulator %s (once, cached in %s)\n", rieVersion, dir)
	if err := run("mod", "init", "hearth-bench-rie"); err != nil {
		return "", err
	}
	if err := run("get", rieModule+"/cmd/aws-lambda-rie@"+rieVersion); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	if err := run("build", "-trimpath", "-o", tmp, rieModule+"/cmd/aws-lambda-rie"); err != nil {
		return "", err
	}
	return bin, os.Rename(tmp, bin)
}

// rieProc is one running emulator.
type rieProc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{} // closed when the process has exited
}

// rieStart starts the emulator on a free port, running bootstrap; stdout and stderr
// may be nil (discarded); env adds to this process's environment (the RIE reads
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE from it).
func rieStart(rie, bootstrap string, stdout, stderr io.Writer, env ...string) (*rieProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rie, "--log-level", "error", "--runtime-interface-emulator-address", addr, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	// Its own process group: the bootstrap it starts is killed with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &rieProc{cmd: cmd, url: "http://" + addr + "/2015-03-31/functions/function/invocations", done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop kills the emulator's process group (it and the bootstrap); idempotent.
func (r *rieProc) stop() {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.done
}

// waitPortFree waits until nothing listens on addr (the previous emulator's Runtime
// API is gone).
func waitPortFree(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is in use (another Runtime Interface Emulator?): %w", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rieInvoke posts one event and checks the answer.
func rieInvoke(hc *http.Client, url string, event []byte) error {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(event))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("RIE answered %d: %s", resp.StatusCode, body)
	}
	if !bytes.Equal(bytes.TrimSpace(body), event) {
		return fmt.Errorf("RIE answered %q, want the event %q back", body, event)
	}
	return nil
}

// rieColdStart is one sample: process start → first successful response.
func rieColdStart(rie, bootstrap string, event []byte) (time.Duration, reportFigures, error) {
	if err := waitPortFree(rieRuntimeAPI, 5*time.Second); err != nil {
		return 0, reportFigures{}, err
	}
	logs := &reportScanner{}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	t0 := time.Now()
	p, err := rieStart(rie, bootstrap, logs, nil)
	if err != nil {
		return 0, reportFigures{}, err
	}
	defer p.stop()
	for time.Since(t0) < 10*time.Second {
		err := rieInvoke(hc, p.url, event)
		if err == nil {
			d := time.Since(t0)
			return d, logs.first(), nil
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			return 0, reportFigures{}, err
		}
		time.Sleep(200 * time.Microsecond) // not listening yet
	}
	return 0, reportFigures{}, errors.New("the Runtime Interface Emulator did not answer within 10s")
}

// reportFigures is what a REPORT line says.
type reportFigures struct {
	duration, initDuration time.Duration
	ok                     bool
}

// parseReport reads Duration and Init Duration from REPORT lines (Lambda's
// tab-separated format, which Hearth and the RIE both write).
func parseReport(text string) reportFigures {
	var r reportFigures
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "REPORT ") {
			continue
		}
		for _, f := range strings.Split(line, "\t") {
			var dst *time.Duration
			f = strings.TrimSpace(f)
			switch {
			case strings.HasPrefix(f, "Init Duration: "):
				dst, f = &r.initDuration, strings.TrimPrefix(f, "Init Duration: ")
			case strings.HasPrefix(f, "Duration: "):
				dst, f = &r.duration, strings.TrimPrefix(f, "Duration: ")
			default:
				continue
			}
			ms, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(f, "ms")), 64)
			if err == nil {
				*dst = time.Duration(ms * float64(time.Millisecond))
				r.ok = true
			}
		}
	}
	return r
}

// reportScanner collects the REPORT lines a child writes to stdout.
type reportScanner struct {
	mu      sync.Mutex
	partial []byte
	reports []reportFigures
}

func (s *reportScanner) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := s.partial[:i]
		if bytes.HasPrefix(line, []byte("REPORT ")) {
			s.reports = append(s.reports, parseReport(string(line)))
		}
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

func (s *reportScanner) first() reportFigures {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reports) == 0 {
		return reportFigures{}
	}
	return s.reports[0]
}

// durations returns the Duration of every REPORT seen since mark, and a new mark.
func (s *reportScanner) durations(mark int) ([]time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, r := range s.reports[min(mark, len(s.reports)):] {
		if r.ok {
			out = append(out, r.duration)
		}
	}
	return out, len(s.reports)
}
