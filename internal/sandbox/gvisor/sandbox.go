package gvisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// box is one running gVisor sandbox: the `runsc run` process and its stdio.
type box struct {
	d      *Driver
	id     string // the spec's ID, what ID reports
	rid    string // runsc's container ID: the spec's, or a pre-booted sandbox's own
	bundle string
	cmd    *exec.Cmd
	stream *stream
	stderr *stderrSwitch
	slot   string // a pre-booted sandbox's /var/task source, filled when it is taken
	// unnet releases the sandbox's network once runsc has exited (netns.go); nil
	// without a network. netGone is closed when it has.
	unnet   func()
	netGone chan struct{}

	done    chan struct{}
	err     error
	killed  bool
	killMu  sync.Mutex
	cleanMu sync.Once

	watchOnce sync.Once   // watchSentry (cpu.go)
	paused    atomic.Bool // its tasks paused by the Sentry (freeze.go)
}

var _ sandbox.Sandbox = (*box)(nil)

// stream joins the init's stdin and stdout into one ReadWriteCloser.
type stream struct {
	r io.ReadCloser
	w io.WriteCloser
}

func (s *stream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *stream) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *stream) Close() error {
	werr := s.w.Close()
	rerr := s.r.Close()
	return errors.Join(werr, rerr)
}

// startProcess starts cmd (`runsc run`) with the stream on its stdio; unnet, when
// set, is run once it has exited.
func startProcess(cmd *exec.Cmd, spec sandbox.Spec, d *Driver, bundle string, unnet func()) (*box, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	// Through a switch: a pre-booted sandbox learns whose stderr it is when taken.
	errs := &stderrSwitch{w: spec.Stderr}
	cmd.Stderr = errs
	// runsc must not die with the goroutine that started it, nor get our signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("gvisor: start runsc: %w", err)
	}
	inR.Close()
	outW.Close()
	b := &box{d: d, id: spec.ID, rid: spec.ID, bundle: bundle, cmd: cmd, stream: &stream{r: outR, w: inW}, stderr: errs, done: make(chan struct{}), unnet: unnet, netGone: make(chan struct{})}
	go b.wait()
	return b, nil
}

func (b *box) wait() {
	err := b.cmd.Wait()
	b.killMu.Lock()
	killed := b.killed
	b.killMu.Unlock()
	var ee *exec.ExitError
	if err != nil && !killed && errors.As(err, &ee) {
		// runsc exits 128+SIGKILL when the sandbox's memory cgroup killed it.
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && (ws.Signaled() && ws.Signal() == syscall.SIGKILL || ws.ExitStatus() == 128+int(syscall.SIGKILL)) {
			err = fmt.Errorf("%w: %v", sandbox.ErrOOM, err)
		}
	}
	b.err = err
	if b.unnet != nil {
		b.d.releasing.Add(1) // before done: Close, after a Kill, waits for it
	}
	close(b.done)
	if b.unnet != nil {
		// The Sentry is gone with runsc: the namespace holds nothing but the link.
		// Releasing it takes tens of milliseconds; nobody waits for it but Close.
		b.unnet()
		b.d.releasing.Done()
	}
	close(b.netGone)
}

func (b *box) ID() string                 { return b.id }
func (b *box) Stream() io.ReadWriteCloser { return b.stream }
func (b *box) Done() <-chan struct{}      { return b.done }

func (b *box) Err() error {
	select {
	case <-b.done:
		return b.err
	default:
		return nil
	}
}

// Stats reads the sandbox's host cgroup: runsc's own figures are the Sentry's view
// and carry no peak. The peak includes the Sentry's overhead, which is memory the
// function's limit really pays for.
func (b *box) Stats(ctx context.Context) (sandbox.Stats, error) {
	rel := filepath.Join(b.d.cfg.CgroupParent, b.rid)
	var st sandbox.Stats
	if cgroupV2() {
		dir := filepath.Join("/sys/fs/cgroup", rel)
		st.MemoryBytes = readInt(filepath.Join(dir, "memory.current"))
		st.MemoryPeakBytes = readInt(filepath.Join(dir, "memory.peak"))
		st.OOMKills = readKey(filepath.Join(dir, "memory.events"), "oom_kill")
	} else {
		dir := filepath.Join("/sys/fs/cgroup/memory", rel)
		st.MemoryBytes = readInt(filepath.Join(dir, "memory.usage_in_bytes"))
		st.MemoryPeakBytes = readInt(filepath.Join(dir, "memory.max_usage_in_bytes"))
		st.CPUTime = time.Duration(readInt(filepath.Join("/sys/fs/cgroup/cpuacct", rel, "cpuacct.usage")))
		st.OOMKills = readKey(filepath.Join(dir, "memory.oom_control"), "oom_kill")
	}
	if st.MemoryPeakBytes < st.MemoryBytes {
		st.MemoryPeakBytes = st.MemoryBytes
	}
	return st, nil
}

func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// Kill stops the sandbox and removes its state.
func (b *box) Kill(ctx context.Context) error {
	b.killMu.Lock()
	b.killed = true
	b.killMu.Unlock()
	select {
	case <-b.done:
	default:
		if b.paused.Load() {
			// Paused tasks take no signal until resumed: the kill would wait out
			// its 2 s and end in killing runsc's process.
			_ = b.Thaw(ctx)
		}
		_ = b.d.runsc("kill", "--all", b.rid, "KILL").Run()
		select {
		case <-b.done:
		case <-time.After(2 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	}
	var err error
	b.cleanMu.Do(func() {
		// The split's child cgroups first: runsc removes only its own, and a child
		// left behind would keep it from doing so.
		_ = removeSplit(b.d.cfg.CgroupParent, b.rid)
		_ = b.d.runsc("delete", "--force", b.rid).Run()
		_ = removeCgroups(b.d.cfg.CgroupParent, b.rid)
		_ = b.stream.Close()
		err = os.RemoveAll(b.bundle)
	})
	return err
}

// stderrSwitch passes the sandbox's stderr to a writer that can be set after start.
type stderrSwitch struct {
	mu sync.Mutex
	w  io.Writer // nil: discarded
}

func (s *stderrSwitch) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		s.w.Write(p)
	}
	return len(p), nil
}

func (s *stderrSwitch) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

// readKey reads the value of key in a "key value" per line file (memory.events,
// memory.oom_control); 0 when absent.
func readKey(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
