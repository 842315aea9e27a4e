// Command hearth-init is PID 1 of every Hearth execution environment. It speaks
// agentproto with the worker on stdin and stdout, serves the Lambda Runtime API to
// the runtime it starts, and writes its own diagnostics to stderr. It takes no
// arguments: everything comes in the Init frame. See package agent.
package main

import (
	"os"
	"runtime"
	"syscall"

	"github.com/hearthfn/hearth/internal/agent"
)

func main() {
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
