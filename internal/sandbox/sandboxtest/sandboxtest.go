// Package sandboxtest is the conformance suite every sandbox driver passes. A
// driver's test calls Run with a constructor; the suite starts sandboxes whose PID 1
// is a probe program (./probe) and checks, from inside and outside, what the
// sandbox contract in package sandbox promises: the stream, identity and
// privileges, filesystem layout and isolation, network, limits, freeze/thaw, stats
// and the lifecycle.
package sandboxtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// probePackage is the probe's import path.
const probePackage = "github.com/hearthfn/hearth/internal/sandbox/sandboxtest/probe"

// ProbeTarget is where the probe is mounted inside every sandbox the suite starts.
const ProbeTarget = "/var/runtime/probe"

// UID and GID the suite's sandboxes run as: Lambda's sbx_user1051.
const (
	UID = 993
	GID = 993
)

// InitProgram is the program the suite runs as PID 1.
type InitProgram struct {
	// HostPath is the static probe binary on the host, mounted read-only at
	// ProbeTarget. Empty: Run builds it (BuildProbe).
	HostPath string
}

// BuildProbe compiles ./probe (static, CGO_ENABLED=0) into a temporary directory of tb.
func BuildProbe(tb testing.TB) InitProgram {
	tb.Helper()
	// go test puts its own GOROOT/bin first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("sandboxtest: the go command is needed to build the probe: %v", err)
	}
	out := filepath.Join(tb.TempDir(), "probe")
	// From the source next to this file when it is there; else by import path (go
	// test runs tests in their package's directory, inside the module).
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, probePackage)
	if _, file, _, ok := runtime.Caller(0); ok {
		if src := filepath.Join(filepath.Dir(file), "probe"); filepath.IsAbs(src) {
			if _, err := os.Stat(filepath.Join(src, "main.go")); err == nil {
				cmd = exec.Command(goTool, "build", "-trimpath", "-o", out, ".")
				cmd.Dir = src
			}
		}
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("sandboxtest: build probe: %v\n%s", err, b)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		tb.Fatal(err)
	}
	return InitProgram{HostPath: out}
}

var idSeq atomic.Int64

// NewID returns a sandbox ID unique on this host (process id, sequence, time).
func NewID(prefix string) string {
	id := fmt.Sprintf("%s-%d-%d-%x", prefix, os.Getpid(), idSeq.Add(1), time.Now().UnixNano()&0xffffff)
	if len(id) > 64 {
		id = id[len(id)-64:]
	}
	return id
}

// Spec returns the suite's default spec for the probe: 128 MB, one CPU, 64 pids,
// 1024 files, 16 MB /tmp, uid/gid 993, an empty read-only /var/task.
func (p InitProgram) Spec(tb testing.TB) sandbox.Spec {
	task := tb.TempDir()
	// World-writable: a write that fails inside proves the mount is read-only, not
	// merely that the directory belongs to root.
	os.Chmod(task, 0o777)
	os.WriteFile(filepath.Join(task, "handler.txt"), []byte("function code\n"), 0o644)
	return sandbox.Spec{
		ID:       NewID("sbt"),
		Init:     ProbeTarget,
		Args:     []string{"probe"},
		Env:      []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HEARTH_PROBE=1", "LANG=C.UTF-8"},
		Mounts:   []sandbox.Mount{{Source: p.HostPath, Target: ProbeTarget, ReadOnly: true}, {Source: task, Target: "/var/task", ReadOnly: true}},
		TmpMB:    16,
		MemoryMB: 128,
		CPUs:     1,
		Pids:     64,
		NoFile:   1024,
		UID:      UID,
		GID:      GID,
	}
}

// Probe is a started sandbox and a line-oriented client of the probe in it.
type Probe struct {
	tb     testing.TB
	SB     sandbox.Sandbox
	Spec   sandbox.Spec
	lines  chan string
	stderr *lockedBuffer
}

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

// StartProbe starts a sandbox running the probe, and kills it when tb ends.
func StartProbe(tb testing.TB, d sandbox.Driver, spec sandbox.Spec) *Probe {
	tb.Helper()
	p, err := TryStartProbe(tb, d, spec)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	return p
}

// TryStartProbe is StartProbe returning Start's error.
func TryStartProbe(tb testing.TB, d sandbox.Driver, spec sandbox.Spec) (*Probe, error) {
	stderr := &lockedBuffer{}
	if spec.Stderr == nil {
		spec.Stderr = stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb, err := d.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	p := &Probe{tb: tb, SB: sb, Spec: spec, lines: make(chan string, 16), stderr: stderr}
	go p.readLines()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sb.Kill(ctx); err != nil {
			tb.Errorf("Kill %s: %v", spec.ID, err)
		}
		if tb.Failed() {
			if s := stderr.String(); s != "" {
				tb.Logf("stderr of %s:\n%s", spec.ID, s)
			}
		}
	})
	return p, nil
}

func (p *Probe) readLines() {
	defer close(p.lines)
	sc := bufio.NewScanner(p.SB.Stream())
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.lines <- sc.Text()
	}
}

// errTimeout is returned by Call when no answer came in time.
var errTimeout = errors.New("no answer in time")

// Send writes one command line.
func (p *Probe) Send(cmd string) error {
	_, err := io.WriteString(p.SB.Stream(), cmd+"\n")
	return err
}

// Answer waits for the next answer line: the result of "ok", or an error for "err",
// a timeout or the end of the stream.
func (p *Probe) Answer(timeout time.Duration) (string, error) {
	select {
	case line, ok := <-p.lines:
		if !ok {
			return "", io.EOF
		}
		if res, ok := strings.CutPrefix(line, "ok "); ok {
			return res, nil
		}
		if line == "ok" {
			return "", nil
		}
		if res, ok := strings.CutPrefix(line, "err "); ok {
			return "", errors.New(res)
		}
		return "", fmt.Errorf("unexpected line %q", line)
	case <-time.After(timeout):
		return "", errTimeout
	}
}

// Call sends cmd and waits (10 s) for its answer.
func (p *Probe) Call(cmd string) (string, error) {
	if err := p.Send(cmd); err != nil {
		return "", fmt.Errorf("send %q: %w", cmd, err)
	}
	return p.Answer(10 * time.Second)
}

// Must is Call failing the test on error.
func (p *Probe) Must(cmd string) string {
	p.tb.Helper()
	res, err := p.Call(cmd)
	if err != nil {
		p.tb.Fatalf("%s: %q: %v", p.Spec.ID, cmd, err)
	}
	return res
}

// Fails is Call failing the test unless the command fails; it returns the error text.
func (p *Probe) Fails(cmd string) string {
	p.tb.Helper()
	res, err := p.Call(cmd)
	if err == nil {
		p.tb.Fatalf("%s: %q succeeded (%s), want an error", p.Spec.ID, cmd, res)
	}
	if errors.Is(err, errTimeout) || errors.Is(err, io.EOF) {
		p.tb.Fatalf("%s: %q: %v", p.Spec.ID, cmd, err)
	}
	return err.Error()
}

func percentile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q * float64(len(s)-1))
	return s[i]
}

// BenchmarkStart measures Start → first echo answered → Kill, per iteration.
func BenchmarkStart(b *testing.B, d sandbox.Driver, init InitProgram) {
	if init.HostPath == "" {
		init = BuildProbe(b)
	}
	spec := init.Spec(b)
	ctx := context.Background()
	var startToEcho time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := spec
		s.ID = NewID("sbb")
		t0 := time.Now()
		sb, err := d.Start(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(sb.Stream())
		if _, err := io.WriteString(sb.Stream(), "echo hi\n"); err != nil {
			b.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil || line != "ok hi\n" {
			b.Fatalf("echo: %q %v", line, err)
		}
		startToEcho += time.Since(t0)
		if err := sb.Kill(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(startToEcho.Microseconds())/float64(b.N)/1000, "ms-start-to-echo/op")
}
