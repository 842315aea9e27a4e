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
// Who runs: the init runs as the sandbox's root (uid and gid 0, no supplementary
// groups) holding only CAP_SETUID, CAP_SETGID and CAP_KILL, with an empty bounding
// set, no_new_privs and the driver's system-call filter; a user namespace or
// gVisor's Sentry keeps that root's power inside the sandbox. The function runs as
// Spec.UID/GID (Lambda's sbx_user1051 is 993), switched to by the init, with no
// capabilities at all. Because the two differ, the function can neither signal,
// trace nor open /proc/1/{mem,fd,environ} of the init, the process the worker
// trusts for results. No host process is visible; the network is loopback only
// unless the driver has a Network (then eth0 too, with the firewall's rules);
// memory is limited to Spec.MemoryMB, CPU to Spec.CPUs, processes to Spec.Pids,
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
	// UID and GID the function runs as (never 0). The init runs as the sandbox's
	// root and switches the runtime to them; drivers map them, nothing more.
	UID, GID int
	// Stderr receives what the init writes to its stderr (its own diagnostics, not
	// the function's logs, which travel on the stream). Nil discards it.
	Stderr io.Writer
}

// Network links sandboxes to the host beyond loopback (package netenv is the one
// there is). A driver given one attaches every sandbox's network namespace before
// the init runs and releases it once the sandbox is gone; without one, sandboxes
// have loopback only.
type Network interface {
	// Attach gives the network namespace at nsPath (e.g. /proc/PID/ns/net) an
	// address and routes to the host; release undoes it.
	Attach(nsPath string) (release func(), err error)
	// ResolvConf is a host file for the sandbox's /etc/resolv.conf ("": none).
	ResolvConf() string
}

// Stats are measured, not guessed.
type Stats struct {
	MemoryPeakBytes int64         // high-water mark of the sandbox's memory use
	MemoryBytes     int64         // current use
	CPUTime         time.Duration // CPU consumed by everything in the sandbox
	// OOMKills counts the processes the kernel's OOM killer killed in the sandbox
	// (cgroup v1 memory.oom_control oom_kill, v2 memory.events oom_kill): an exit
	// is an out-of-memory death when this moved, not when the peak came near the limit.
	OOMKills int64
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

// CPUPeriod is the CFS period drivers use, and CPUQuota the quota and burst within
// it. Lambda's share (MemorySize/1769 of a vCPU) must hold over time, yet short work
// must not stall: with a 20 ms period and no burst a 128 MB function (0.072 CPU, a
// 1.4 ms quota) waited ~20 ms whenever one warm invoke — its runtime and hearth-init
// together, or gVisor's Sentry — needed a little more, and a no-op invoke took
// 20–40 ms. A 100 ms period with a burst of one quota lets an env that has been idle
// spend up to two quotas (14.5 ms at 128 MB) at once, while a CPU-bound loop still
// gets quota/period averaged over a second (+10 % at most: one burst per second).
const CPUPeriod = 100 * time.Millisecond

// CPUQuota is the CFS quota per CPUPeriod for cpus, and the burst that may be saved
// up from idle periods (the kernel allows at most the quota). cpus ≤ 0: unlimited (0, 0).
func CPUQuota(cpus float64) (quota, burst time.Duration) {
	if cpus <= 0 {
		return 0, 0
	}
	quota = max(time.Duration(cpus*float64(CPUPeriod)), time.Millisecond) // the kernel's minimum quota is 1 ms
	return quota, quota
}

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

// ErrNoCapacity is wrapped by Start's (and a Network's Attach's) error when the host
// has run out of something every sandbox needs — an address of the env subnet, say:
// a later start may succeed, so the caller answers "retry later", not a failure.
var ErrNoCapacity = errors.New("the host has no capacity left for another sandbox")

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
