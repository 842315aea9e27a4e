package agent

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// prSetChildSubreaper is prctl(2)'s PR_SET_CHILD_SUBREAPER, which package syscall lacks.
const prSetChildSubreaper = 36

// runtimeSpec is how to start the runtime process.
type runtimeSpec struct {
	argv   []string
	env    []string
	dir    string
	stdout *os.File // write ends of the capture pipes
	stderr *os.File
	// uid and gid the runtime runs as; 0 and 0 keep hearth-init's own.
	uid, gid int
}

// credential is the identity the runtime is started with, or nil to keep
// hearth-init's. Switching needs CAP_SETUID and CAP_SETGID, which hearth-init holds
// in a sandbox; leaving uid 0 for another uid clears every capability the runtime
// would otherwise inherit (permitted, effective, ambient).
func (spec runtimeSpec) credential() *syscall.Credential {
	if spec.uid == 0 && spec.gid == 0 {
		return nil
	}
	if spec.uid == os.Getuid() && spec.uid == os.Geteuid() && spec.gid == os.Getgid() && spec.gid == os.Getegid() {
		return nil // already that identity, and without the capability to setgroups
	}
	// Groups empty, not nil: no supplementary group of hearth-init's survives.
	return &syscall.Credential{Uid: uint32(spec.uid), Gid: uint32(spec.gid), Groups: []uint32{}}
}

// supervisor owns the runtime process. hearth-init is PID 1 (or at least a child
// subreaper), so orphans of the runtime become its children too: one reaper collects
// every child with wait4(-1) and picks out the runtime's status itself. Nothing else
// in hearth-init may wait for children, or it could steal that status.
type supervisor struct {
	// mu serialises forking and reaping, so the reaper always knows the runtime's pid
	// and a signal never reaches a recycled pid.
	mu     sync.Mutex
	pid    int
	reaped bool
	exited chan struct{} // closed once the runtime is reaped

	onExit  func(syscall.WaitStatus)
	sigchld chan os.Signal
	diag    *log.Logger
}

// startRuntime starts the runtime in its own process group, with /dev/null as stdin
// (hearth-init's stdin is the worker's stream) and the capture pipes as stdout and
// stderr. onExit runs once, on the reaper goroutine, when the runtime is reaped.
func startRuntime(spec runtimeSpec, onExit func(syscall.WaitStatus), diag *log.Logger) (*supervisor, error) {
	s := &supervisor{
		exited:  make(chan struct{}),
		onExit:  onExit,
		sigchld: make(chan os.Signal, 1),
		diag:    diag,
	}
	// Before the fork, so an instant exit is not missed.
	signal.Notify(s.sigchld, syscall.SIGCHLD)
	// Outside a PID namespace (tests, drivers without one) orphans would go to the
	// host's init; as a subreaper hearth-init still collects them. Best effort.
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)

	path, err := lookPath(spec.argv[0], spec.env)
	if err != nil {
		return nil, err
	}
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("runtime stdin: %w", err)
	}
	defer stdin.Close()
	attr := &syscall.ProcAttr{
		Dir:   spec.dir,
		Env:   spec.env,
		Files: []uintptr{stdin.Fd(), spec.stdout.Fd(), spec.stderr.Fd()},
		// Its own group, so stopping the runtime also stops what it started.
		Sys: &syscall.SysProcAttr{Setpgid: true, Credential: spec.credential()},
	}
	s.mu.Lock()
	pid, err := syscall.ForkExec(path, spec.argv, attr)
	s.pid = pid
	s.mu.Unlock()
	if err != nil {
		signal.Stop(s.sigchld)
		return nil, fmt.Errorf("fork/exec %s: %w", path, err)
	}
	go s.reap()
	return s, nil
}

func (s *supervisor) reap() {
	for range s.sigchld {
		for {
			var ws syscall.WaitStatus
			s.mu.Lock()
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			runtime := err == nil && pid == s.pid && pid > 0
			if runtime {
				s.reaped = true
			}
			s.mu.Unlock()
			if err == syscall.EINTR {
				continue
			}
			if err != nil || pid <= 0 {
				break // ECHILD or nothing more to collect now
			}
			if runtime {
				close(s.exited)
				s.onExit(ws)
			}
		}
	}
}

// signal sends sig to the runtime's process group (or to the runtime alone if it
// left the group). Never after the runtime was reaped: its pid may be reused.
func (s *supervisor) signal(sig syscall.Signal) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reaped || s.pid <= 0 {
		return
	}
	if err := syscall.Kill(-s.pid, sig); err != nil {
		_ = syscall.Kill(s.pid, sig)
	}
}

func (s *supervisor) kill() { s.signal(syscall.SIGKILL) }

// stop ends the runtime: optionally SIGTERM, then grace for it to exit, then SIGKILL.
func (s *supervisor) stop(term bool, grace time.Duration) {
	if s == nil {
		return
	}
	if term {
		s.signal(syscall.SIGTERM)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		s.kill()
	}
}

// lookPath resolves a command without a slash along the runtime's own PATH, as
// execvp in the runtime's environment would.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

// signalName is the SIG* name the worker reports (RuntimeExit.Signal).
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGTRAP:
		return "SIGTRAP"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGALRM:
		return "SIGALRM"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGXCPU:
		return "SIGXCPU"
	case syscall.SIGXFSZ:
		return "SIGXFSZ"
	case syscall.SIGSYS:
		return "SIGSYS"
	}
	return "SIG" + strconv.Itoa(int(sig))
}
