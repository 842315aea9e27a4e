//go:build linux

// Package watchdog lets a sandbox driver's sandboxes die with the process that runs
// the driver, however that process dies. A parent-death signal is not enough: it
// fires when the parent *thread* exits, it does nothing to a task the cgroup freezer
// holds (a frozen task acts on SIGKILL only once thawed), and gVisor's sandboxes are
// not children of the server at all.
//
// So each driver starts one watchdog: the running binary re-executed with a marker
// argument its driver package dispatches on, in a session of its own (a signal to
// the server's process group does not reach it). It blocks reading a pipe whose
// write end only the driver's process holds. When that process dies, any way at
// all, the kernel closes the write end, the read returns EOF, and the watchdog
// cleans up what the driver left (Wait returns true) and exits. A clean Close sends
// one byte first: then the watchdog exits without touching anything.
package watchdog

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// stopByte, written before the driver's process closes its end, means "closed
// cleanly, nothing to do".
const stopByte = 'q'

// fd is the watchdog's descriptor of the pipe's read end (ExtraFiles[0]).
const fd = 3

// Process is a running watchdog, as the driver's process sees it.
type Process struct {
	w    *os.File // the pipe's write end; close-on-exec, so no child holds it
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
	err  error
}

// Start re-executes the running binary (/proc/self/exe: the very binary, even if
// the file was replaced since) with args, args[0] being the marker the driver's
// package dispatches on. Its stderr is ours, so what it did after a crash is in the
// server's log.
func Start(args ...string) (*Process, error) {
	if len(args) == 0 {
		return nil, errors.New("watchdog: no marker argument")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append([]string{os.Args[0]}, args...),
		Env:        append(os.Environ(), "GOMAXPROCS=1"),
		Dir:        "/", // hold no directory of the data directory
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{r},
		// A session of its own: not in the server's process group, so a kill of
		// that group (a terminal's ^C, kill -9 -PGID) leaves it to clean up.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("watchdog: start %v: %w", args[0], err)
	}
	r.Close()
	p := &Process{w: w, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the watchdog's process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop tells the watchdog that the driver closed cleanly and waits for it to exit
// (killing it if it does not within a few seconds).
func (p *Process) Stop() error {
	p.once.Do(func() {
		_, werr := p.w.Write([]byte{stopByte})
		p.w.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		// A watchdog that is already gone (killed by hand) is not an error of Close;
		// a write that failed for another reason is.
		if werr != nil && !errors.Is(werr, syscall.EPIPE) {
			p.err = fmt.Errorf("watchdog: stop: %w", werr)
		} else {
			p.err = nil
		}
	})
	return p.err
}

// Wait is the watchdog's side: it blocks until the driver's process stops it
// (false) or dies (true). The signals a service manager or a terminal sends to a
// whole group are ignored: the watchdog ends when its driver's process does.
func Wait() (died bool) {
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGPIPE)
	f := os.NewFile(fd, "watchdog")
	syscall.CloseOnExec(fd) // the cleanup runs commands (runsc); they need not hold it
	var b [1]byte
	for {
		n, err := f.Read(b[:])
		if n == 1 && b[0] == stopByte {
			return false
		}
		if err != nil {
			return true // EOF: every write end is gone, so is the driver's process
		}
	}
}
