// Command hearth-init is PID 1 of every Hearth execution environment. It speaks
// agentproto with the worker on stdin and stdout, serves the Lambda Runtime API to
// the runtime it starts, and writes its own diagnostics to stderr. It takes no
// arguments: everything comes in the Init frame. See package agent.
//
// In a sandbox it starts as the sandbox's root holding only CAP_SETUID, CAP_SETGID
// and CAP_KILL (the driver arranges that), and starts the runtime as the uid and
// gid the Init frame names: the function can then neither signal, trace nor open
// /proc/1 of the process the worker trusts for results.
package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/agent"
	"github.com/hearthfn/hearth/internal/sandbox/namespace"
)

func main() {
	// The namespace driver starts its setup step as this binary (namespace.Config.Exe)
	// and the step execs it again as PID 1. Re-executing hearth instead cost every
	// cold start its package initialisers and page faults: ~40 ms of CPU against ~10
	// here, measured under load, and 4 MB against 0.5 MB per pre-forked process.
	if len(os.Args) > 1 && os.Args[1] == namespace.SetupArg {
		namespace.SetupMain()
	}
	if err := lockIdentity(); err != nil {
		fmt.Fprintf(os.Stderr, "hearth-init: %v\n", err)
		os.Exit(agent.ExitBadInit)
	}
	// hearth-init's work is a few hand-offs per invocation. On one P they happen on
	// one thread; with more, every hand-off can wake another thread, which costs more
	// than the work itself (an IPI, and in a VM an exit).
	runtime.GOMAXPROCS(1)
	os.Exit(agent.New(agent.Config{In: pollable(os.Stdin, "stdin"), Out: pollable(os.Stdout, "stdout"), Diag: os.Stderr}).Run())
}

// pollable returns f in the runtime's poller when it is a pipe or a socket (as the
// worker's stream is), so waiting for a frame parks a goroutine instead of a thread
// and frames are handled on the thread that polls. Anything else (a terminal) is
// left alone: O_NONBLOCK would leak to whoever shares it.
func pollable(f *os.File, name string) *os.File {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return f
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFIFO && st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return f
	}
	if err := syscall.SetNonblock(int(f.Fd()), true); err != nil {
		return f
	}
	return os.NewFile(f.Fd(), name)
}

// lockIdentity closes what the uid change alone leaves open. Not dumpable: /proc/1
// then belongs to root and the kernel requires CAP_SYS_PTRACE over the sandbox to
// trace hearth-init or open its mem, fd or environ, even for a process of the same
// uid. No inheritable capabilities: the driver may hand them over so that exec
// gives hearth-init its permitted set, and the runtime must not keep them.
func lockIdentity() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_DUMPABLE: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if data[0].Inheritable == 0 && data[1].Inheritable == 0 {
		return nil
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	// Capabilities are per thread, and the Go runtime has started threads already;
	// the runtime may be forked from any of them.
	_, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}
