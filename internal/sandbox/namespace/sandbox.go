//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// sandboxProc is one running sandbox: its PID-namespace init, cgroup and stream.
type sandboxProc struct {
	id      string
	cmd     *exec.Cmd
	cg      cgroup
	stream  *stream
	unplumb func() // releases the network link once the init is gone; nil without

	done   chan struct{}
	copied chan struct{} // the init's stderr has been copied to Spec.Stderr
	err    error         // set before done closes
	killed atomic.Bool

	mu       sync.Mutex // serialises Kill, Freeze, Thaw, Stats against release
	released bool
}

var _ sandbox.Sandbox = (*sandboxProc)(nil)
var _ sandbox.CPULimiter = (*sandboxProc)(nil)

// LimitCPU changes the sandbox's CPU quota while it runs.
func (s *sandboxProc) LimitCPU(ctx context.Context, cpus float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return errReleased
	}
	return s.cg.limitCPU(cpuQuota(cpus))
}

var errReleased = errors.New("namespace: sandbox was killed and released")

func (s *sandboxProc) ID() string                 { return s.id }
func (s *sandboxProc) Stream() io.ReadWriteCloser { return s.stream }
func (s *sandboxProc) Done() <-chan struct{}      { return s.done }

func (s *sandboxProc) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// wait reaps the init. When the init of a PID namespace exits the kernel kills
// everything else in it, so this is the sandbox's end.
func (s *sandboxProc) wait() {
	err := s.cmd.Wait()
	if s.unplumb != nil {
		// Tens of milliseconds (the link's deletion): not on the way to done.
		go s.unplumb()
	}
	// Everything in the PID namespace is gone, so the stderr pipe has no writer
	// left; finish copying before telling anyone the sandbox is done.
	<-s.copied
	switch {
	case signaled(err) && s.cg.oomKilled():
		// Read before Kill removes the cgroup: Kill waits for done.
		s.err = fmt.Errorf("namespace: sandbox %s: %w (init: %v)", s.id, sandbox.ErrOOM, err)
	case s.killed.Load():
		s.err = fmt.Errorf("namespace: sandbox %s was killed", s.id)
	case err != nil:
		s.err = fmt.Errorf("namespace: sandbox %s: init exited: %w", s.id, err)
	}
	close(s.done)
}

func signaled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

func (s *sandboxProc) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *sandboxProc) Freeze(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return errReleased
	}
	if s.exited() {
		return fmt.Errorf("namespace: freeze %s: sandbox has exited", s.id)
	}
	if err := s.cg.freeze(ctx); err != nil {
		return fmt.Errorf("namespace: freeze %s: %w", s.id, err)
	}
	return nil
}

func (s *sandboxProc) Thaw(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return errReleased
	}
	if err := s.cg.thaw(ctx); err != nil {
		return fmt.Errorf("namespace: thaw %s: %w", s.id, err)
	}
	return nil
}

func (s *sandboxProc) Stats(ctx context.Context) (sandbox.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return sandbox.Stats{}, errReleased
	}
	st, err := s.cg.stats()
	if err != nil {
		return st, fmt.Errorf("namespace: stats %s: %w", s.id, err)
	}
	return st, nil
}

// Kill implements sandbox.Sandbox: SIGKILL everything (the cgroup's tasks and the
// namespace init, whose death takes the PID namespace down), reap the init, remove
// the cgroups and close the stream.
func (s *sandboxProc) Kill(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return nil
	}
	if !s.exited() {
		s.killed.Store(true)
		s.cg.killAll() // thaws on v1 first: frozen tasks ignore SIGKILL there
		if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("namespace: kill %s: %w", s.id, err)
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("namespace: kill %s: %w", s.id, ctx.Err())
		}
	}
	// Tasks leave the cgroup as they exit; zap_pid_ns_processes has waited for them,
	// but be tolerant of a straggler in a hierarchy the init never reached.
	if s.cg.populated() {
		s.cg.killAll()
	}
	if err := s.cg.remove(ctx); err != nil {
		return fmt.Errorf("namespace: kill %s: %w", s.id, err)
	}
	s.stream.Close()
	s.released = true
	return nil
}

// stream is the init's stdin (Write) and stdout (Read). The pipes are pollable, so
// deadlines work.
type stream struct {
	r, w *os.File
	once sync.Once
	err  error
}

func (s *stream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *stream) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s *stream) Close() error {
	s.once.Do(func() { s.err = errors.Join(s.w.Close(), s.r.Close()) })
	return s.err
}

func (s *stream) SetReadDeadline(t time.Time) error  { return s.r.SetReadDeadline(t) }
func (s *stream) SetWriteDeadline(t time.Time) error { return s.w.SetWriteDeadline(t) }
func (s *stream) SetDeadline(t time.Time) error {
	return errors.Join(s.r.SetReadDeadline(t), s.w.SetWriteDeadline(t))
}
