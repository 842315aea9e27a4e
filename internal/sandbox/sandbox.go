// Package sandbox is the contract between the worker and the things that isolate an
// execution environment: a Driver starts a Sandbox from a Spec; the Sandbox gives
// back one byte stream to hearth-init (PID 1 inside), and can be frozen, thawed,
// measured and killed. Optional abilities (checkpoint, restore) are separate
// one-method interfaces, announced in Capabilities; callers branch on capabilities,
// never on a driver's name. Every driver passes the conformance suite in
// sandboxtest.
//
// What every sandbox looks like from inside:
//
//	/             read-only: the host's /usr, /lib*, /bin, /sbin and a few /etc files (HostBase)
//	/var/task     the function's code, read-only
//	/opt          layers, read-only (when present)
//	/var/runtime  hearth-init and the runtime interface client, read-only
//	/tmp          tmpfs of Spec.TmpMB, private to the sandbox
//	/proc, /dev   fresh procfs of the sandbox's own PID namespace; null, zero, random, urandom, full
//
// The init runs as Spec.UID/GID (Lambda's sbx_user1051 is 993), never as the host's
// root, with no capabilities; no host process is visible; the network is loopback
// only; memory is limited to Spec.MemoryMB, CPU to Spec.CPUs, processes to Spec.Pids,
// open files to Spec.NoFile.
package sandbox

import (
	"context"
	"errors"
	"io"
	"time"
)

// Mount is a host path made visible inside the sandbox.
type Mount struct {
	Source   string // host path (file or directory)
	Target   string // path inside the sandbox
	ReadOnly bool
}

// Spec is everything a driver needs to start one sandbox.
type Spec struct {
	// ID is unique per sandbox on this host; drivers use it for cgroup and
	// container names ([a-zA-Z0-9_-], at most 64 characters).
	ID string
	// Init is the path inside the sandbox of the program to run as PID 1, with Args
	// (Args[0] is the program name) and Env.
	Init string
	Args []string
	Env  []string
	// Mounts are added to HostBase: /var/task, /var/runtime, /opt.
	Mounts []Mount
	// TmpMB is the size of the private /tmp tmpfs.
	TmpMB int
	// MemoryMB is the hard memory limit of everything in the sandbox.
	MemoryMB int
	// CPUs is the CPU quota in cores (Lambda: MemoryMB / 1769).
	CPUs float64
	// Pids bounds the number of processes and threads.
	Pids int
	// NoFile is RLIMIT_NOFILE.
	NoFile int
	// UID and GID the init runs as.
	UID, GID int
	// Stderr receives what the init writes to its stderr (its own diagnostics, not
	// the function's logs, which travel on the stream). Nil discards it.
	Stderr io.Writer
}

// Stats are measured, not guessed.
type Stats struct {
	MemoryPeakBytes int64         // high-water mark of the sandbox's memory use
	MemoryBytes     int64         // current use
	CPUTime         time.Duration // CPU consumed by everything in the sandbox
}

// Capabilities says what a driver can do beyond the core interface.
type Capabilities struct {
	Freeze     bool // Freeze/Thaw stop and resume all processes without losing state
	Checkpoint bool // the Sandbox implements Checkpointer
	Restore    bool // the Driver implements Restorer
	CPULimit   bool // the Sandbox implements CPULimiter
}

// Driver starts sandboxes of one kind.
type Driver interface {
	Name() string
	Capabilities() Capabilities
	// Start boots a sandbox and starts Spec.Init in it. When Start returns, the
	// init's stdin/stdout are connected to Sandbox.Stream.
	Start(ctx context.Context, spec Spec) (Sandbox, error)
}

// Sandbox is one running sandbox.
type Sandbox interface {
	ID() string
	// Stream is the init's stdin (writes) and stdout (reads).
	Stream() io.ReadWriteCloser
	// Freeze stops every process in the sandbox; Thaw resumes them.
	Freeze(ctx context.Context) error
	Thaw(ctx context.Context) error
	Stats(ctx context.Context) (Stats, error)
	// Kill stops everything in the sandbox and releases what the driver holds for
	// it (cgroups, state directories). It is safe to call more than once and on a
	// sandbox that already exited.
	Kill(ctx context.Context) error
	// Done is closed when the init has exited; Err then says how (nil for exit 0).
	Done() <-chan struct{}
	Err() error
}

// CPULimiter is implemented by sandboxes whose CPU quota can change while they run.
// The worker starts such envs unthrottled and applies the function's quota when the
// init phase ends: booting the sandbox is not the function's work, and Lambda too
// gives the init phase more CPU than a small function's invoke phase gets.
type CPULimiter interface {
	// LimitCPU sets the quota in CPUs; 0 lifts it.
	LimitCPU(ctx context.Context, cpus float64) error
}

// CPUPeriod is the CFS period drivers use. Shorter than the kernel's default 100 ms,
// so a small function (128 MB ≈ 0.07 CPU) waits at most ~20 ms when it exhausts its
// quota instead of ~100 ms.
const CPUPeriod = 20 * time.Millisecond

// Checkpointer is implemented by sandboxes whose state can be saved to a directory.
type Checkpointer interface {
	Checkpoint(ctx context.Context, dir string) error
}

// Restorer is implemented by drivers that can start a sandbox from a checkpoint.
type Restorer interface {
	Restore(ctx context.Context, spec Spec, dir string) (Sandbox, error)
}

// ErrOOM is wrapped by Err when the sandbox's init was killed for exceeding its memory limit.
var ErrOOM = errors.New("sandbox exceeded its memory limit")

// HostBase is the read-only base every sandbox sees: the host's system directories
// and the few /etc files a runtime needs. Nothing else of the host: no /root, /home,
// /var, data directories or credentials.
func HostBase() []Mount {
	var m []Mount
	for _, d := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		m = append(m, Mount{Source: d, Target: d, ReadOnly: true})
	}
	for _, f := range []string{
		"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ld.so.cache",
		"/etc/localtime", "/etc/ssl", "/etc/ca-certificates", "/etc/mime.types", "/etc/alternatives",
	} {
		m = append(m, Mount{Source: f, Target: f, ReadOnly: true})
	}
	return m
}
