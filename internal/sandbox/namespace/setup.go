//go:build linux

package namespace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// SetupArg is os.Args[1] of the process the driver starts inside the new
// namespaces; a binary used as Config.Exe calls SetupMain when it sees it.
const SetupArg = "__hearth-sandbox-setup"

// goByte on the config pipe releases the child once it is in its cgroup.
const goByte = 'g'

// Descriptors of the setup process besides stdio.
const (
	fdConfig = 3 // parent → child: length-prefixed childConfig (config.go), then goByte
	fdStatus = 4 // child → parent: an error message, or EOF at execve
)

// SetupMain is the sandbox's setup step, run as the first process of its new
// namespaces. It builds the root, waits until the parent has put it in its cgroup,
// drops every privilege, installs the seccomp filter and execs Spec.Init, which
// stays PID 1. It does not return: on failure it reports to the parent and exits.
func SetupMain() {
	// Credentials, capabilities, no_new_privs and seccomp are per thread; execve
	// happens on this one.
	runtime.LockOSThread()
	status := os.NewFile(fdStatus, "status")
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(status, "panic: %v", r)
			os.Exit(2)
		}
	}()
	err := setup()
	// setup returns only on failure.
	fmt.Fprintf(status, "%v", err)
	os.Exit(1)
}

func setup() error {
	for _, fd := range []int{fdConfig, fdStatus} {
		unix.CloseOnExec(fd)
	}
	// Everything that does not depend on the sandbox's config happens before it
	// arrives: a warm process (see warmPool) has it done ahead of Start. That
	// includes most of the root (the host's base directories, /proc, /dev): 17 bind
	// mounts, which took about a millisecond of every cold start when done after.
	if err := loopbackUp(); err != nil {
		return err
	}
	if len(os.Args) < 3 {
		return errors.New("setup process started without its root directory")
	}
	rb, err := prepareRoot(os.Args[2])
	if err != nil {
		return err
	}
	cfgPipe := os.NewFile(fdConfig, "config")
	var n [4]byte
	if _, err := io.ReadFull(cfgPipe, n[:]); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(cfgPipe, buf); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var cfg childConfig
	if err := cfg.unmarshal(buf); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	if cfg.Root != rb.root {
		return fmt.Errorf("config names root %s, the process prepared %s", cfg.Root, rb.root)
	}
	if err := rb.finish(&cfg); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}

	// Wait until the parent has put us in the sandbox's cgroup.
	var g [1]byte
	if _, err := io.ReadFull(cfgPipe, g[:]); err != nil || g[0] != goByte {
		return fmt.Errorf("parent did not release the sandbox: %v", err)
	}
	cfgPipe.Close()
	// A cgroup namespace rooted at the sandbox's cgroup (hence after joining it).
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("unshare cgroup namespace: %w", err)
	}
	// syscall.Setrlimit, not a raw prlimit: it stops the exec path from restoring
	// the Go runtime's original RLIMIT_NOFILE.
	lim := syscall.Rlimit{Cur: uint64(cfg.NoFile), Max: uint64(cfg.NoFile)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit NOFILE: %w", err)
	}
	// No core dumps: they would land wherever the host's core_pattern says.
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{}); err != nil {
		return fmt.Errorf("setrlimit CORE: %w", err)
	}
	if err := os.Chdir("/var/task"); err != nil {
		os.Chdir("/")
	}
	if err := dropPrivileges(); err != nil {
		return err
	}
	if err := installSeccomp(); err != nil {
		return err
	}
	err = syscall.Exec(cfg.Init, cfg.Args, cfg.Env)
	return fmt.Errorf("exec %s: %w", cfg.Init, err)
}

// prepareRoot makes a private tmpfs on root the sandbox's future root, with what
// every sandbox has: the host's base directories (sandbox.HostBase), Lambda's empty
// directories, /proc of the new PID namespace and a few device nodes. finish adds
// the sandbox's own mounts and pivots into it.
func prepareRoot(root string) (*rootBuilder, error) {
	// Modes below are meant as written; the function's own umask is set before exec.
	unix.Umask(0)
	// A mount namespace for this thread (the one that execs), copied from the
	// host's as it is now: the host paths a sandbox mounts later must already be
	// on a mount the host had when this process started (the worker's code and
	// runtime directories are under --data, which is).
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("unshare mount namespace: %w", err)
	}
	// Nothing done here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
	}
	// Not nodev: /dev's nodes live on it. Read-only once built.
	err := unix.Mount("hearth-root", root, "tmpfs", unix.MS_NOSUID, "size=1m,mode=0755")
	if errors.Is(err, unix.ENOENT) { // the state directory was cleaned away (tmpfiles…)
		if err = os.MkdirAll(root, 0o755); err == nil {
			err = unix.Mount("hearth-root", root, "tmpfs", unix.MS_NOSUID, "size=1m,mode=0755")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mount root tmpfs on %s: %w", root, err)
	}
	var rootStat unix.Stat_t
	if err := unix.Stat(root, &rootStat); err != nil {
		return nil, err
	}
	rb := &rootBuilder{root: root, dev: rootStat.Dev}

	// Lambda's directories exist even when nothing is mounted on them.
	for _, d := range []string{"/var/task", "/var/runtime", "/opt"} {
		if err := rb.mkdirAll(d); err != nil {
			return nil, err
		}
	}
	for _, m := range sandbox.HostBase() {
		if err := rb.bind(childMount{Mount: m, Base: true}); err != nil {
			return nil, err
		}
	}

	// /proc: the new PID namespace's.
	if err := rb.mkdirAll("/proc"); err != nil {
		return nil, err
	}
	if err := unix.Mount("proc", root+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount /proc: %w", err)
	}

	// /dev: the host's harmless device nodes, bound one by one (no /dev/shm: Lambda
	// has none). Bound, not made: in a user namespace mknod is refused, and nodes on
	// a tmpfs mounted there would not open anyway.
	if err := rb.mkdirAll("/dev"); err != nil {
		return nil, err
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom"} {
		if err := rb.bindDevice("/dev/" + name); err != nil {
			return nil, err
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := unix.Symlink(target, root+"/dev/"+name); err != nil {
			return nil, fmt.Errorf("symlink /dev/%s: %w", name, err)
		}
	}
	return rb, nil
}

// finish adds the sandbox's own mounts and a private /tmp of EphemeralStorage size,
// then pivots into the root and makes it read-only.
func (rb *rootBuilder) finish(cfg *childConfig) error {
	root := rb.root
	for _, m := range cfg.Mounts {
		if err := rb.bind(m); err != nil {
			return err
		}
	}

	// /tmp: private, EphemeralStorage sized.
	if err := rb.mkdirAll("/tmp"); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", root+"/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%dm,mode=1777", cfg.TmpMB)); err != nil {
		return fmt.Errorf("mount /tmp: %w", err)
	}

	// pivot_root(".", ".") stacks the old root on top of the new one; detaching it
	// leaves the new root alone, without a directory for the old one.
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID, ""); err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	unix.Umask(0o022)
	return nil
}

type rootBuilder struct {
	root string
	dev  uint64 // device of the root tmpfs
}

// mkdirAll creates dir (a path inside the sandbox) on the root tmpfs. It refuses to
// walk through symlinks or into another mount, so it can never create anything on
// a bind-mounted host directory.
func (rb *rootBuilder) mkdirAll(dir string) error {
	p := rb.root
	rel := strings.Trim(dir, "/")
	if rel == "" {
		return nil
	}
	for _, part := range strings.Split(rel, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("bad path %q", dir)
		}
		p += "/" + part
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Dev == rb.dev:
			continue
		case err == nil:
			return fmt.Errorf("create %s: %s is a mount point, symlink or file", dir, strings.TrimPrefix(p, rb.root))
		case errors.Is(err, unix.ENOENT):
			if err := unix.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("mkdir %s: %w", strings.TrimPrefix(p, rb.root), err)
			}
		default:
			return err
		}
	}
	return nil
}

// bind makes a host path visible at its target.
func (rb *rootBuilder) bind(m childMount) error {
	var st unix.Stat_t
	if m.Base {
		if err := unix.Lstat(m.Source, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil // not on this host (/lib32 …)
			}
			return fmt.Errorf("mount %s: %w", m.Source, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			link, err := os.Readlink(m.Source)
			if err != nil {
				return err
			}
			if err := rb.mkdirAll(filepath.Dir(m.Target)); err != nil {
				return err
			}
			if err := unix.Symlink(link, rb.root+m.Target); err != nil {
				return fmt.Errorf("symlink %s: %w", m.Target, err)
			}
			return nil
		}
	} else if err := unix.Stat(m.Source, &st); err != nil {
		return fmt.Errorf("mount %s: %w", m.Source, err)
	}

	target := rb.root + m.Target
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := rb.mkdirAll(m.Target); err != nil {
			return err
		}
	} else {
		if err := rb.mkdirAll(filepath.Dir(m.Target)); err != nil {
			return err
		}
		fd, err := unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return fmt.Errorf("create mount point %s: %w", m.Target, err)
		}
		unix.Close(fd)
	}
	if err := unix.Mount(m.Source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", m.Source, m.Target, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID | unix.MS_NODEV)
	if m.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", target, "", flags|lockedFlags(target), ""); err != nil {
		return fmt.Errorf("remount %s: %w", m.Target, err)
	}
	return nil
}

// bindDevice makes the host's device node at path usable at the same path inside:
// a bind mount without nodev (the rest of the sandbox has it), nosuid and noexec.
func (rb *rootBuilder) bindDevice(path string) error {
	target := rb.root + path
	fd, err := unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("create mount point %s: %w", path, err)
	}
	unix.Close(fd)
	if err := unix.Mount(path, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", path, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID | unix.MS_NOEXEC)
	if err := unix.Mount("", target, "", flags|lockedFlags(target), ""); err != nil {
		return fmt.Errorf("remount %s: %w", path, err)
	}
	return nil
}

// lockedFlags are the flags of the mount at path that a remount must repeat. In a
// user namespace the flags of mounts inherited from the host are locked: a remount
// that would drop noexec, nodev, nosuid or read-only fails with EPERM.
func lockedFlags(path string) uintptr {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	var f uintptr
	for _, b := range []struct{ st, ms uintptr }{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&b.st != 0 {
			f |= b.ms
		}
	}
	return f
}

// loopbackUp brings "lo" of the new network namespace up: 127.0.0.1 works, and no
// other interface exists.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// initCaps are the capabilities the init keeps: it starts the function's runtime
// as Spec.UID/GID (setgroups, setgid, setuid) and must be able to signal it.
var initCaps = []uintptr{unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_KILL}

// dropPrivileges leaves the calling thread as the sandbox's root (uid and gid 0, no
// supplementary groups) with an empty bounding set, no ambient capabilities and
// no way to gain privileges (no_new_privs), and initCaps inheritable, permitted and
// effective. The init runs as root, not as the function's uid, so that the
// function cannot signal, trace or open /proc/1 of it; in the user namespace its
// capabilities reach the sandbox's own namespaces only. At exec a root process's
// permitted set becomes bounding ∪ inheritable, so with the bounding set empty the
// init starts with exactly initCaps (and the function, once the init switched to
// its uid, with nothing).
func dropPrivileges() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	// Raw syscalls change this thread only, which is the one that execs; Go's
	// wrappers would stop every thread of the runtime three times for nothing.
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	var keep [2]uint32
	for _, c := range initCaps {
		keep[c/32] |= 1 << (c % 32)
	}
	// Inheritable first: a capability can only become inheritable while it is
	// still in the bounding set.
	for i := range data {
		data[i].Inheritable = keep[i]
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset inheritable: %w", err)
	}
	// Emptying the bounding set needs CAP_SETPCAP, so before permitted shrinks.
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) { // past CAP_LAST_CAP
				break
			}
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for i := range data {
		data[i] = unix.CapUserData{Effective: keep[i], Permitted: keep[i], Inheritable: keep[i]}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	// Changing credentials may have cleared the parent-death signal.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("pdeathsig: %w", err)
	}
	return nil
}
