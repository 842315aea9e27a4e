package gvisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// A gVisor sandbox's host processes are of three kinds: the Sentry (gVisor's
// kernel), the gofer (its file server), and the systrap stub processes, in which
// the function's own instructions run (one per address space, with a thread per
// task; the Sentry answers their system calls). Lambda's CPU share belongs to the
// function's instructions, so only the stubs are held to it, in a child cgroup
// "function"; the Sentry and the gofer share the sandbox's cgroup, whose quota is
// the function's plus SentryCPUs.
//
// Why: a warm no-op invoke costs the Sentry 3–4 ms of CPU and the stubs ~2 ms on
// this machine's systrap (a trapped system call costs ~40 µs on each side, against
// ~1 µs natively). All of it under 128 MB's 7.2 ms per 100 ms made a back-to-back
// invoke wait a period each time (p50 99 ms against 3.8 ms at 1,769 MB). Giving the
// whole sandbox more CPU instead reached the function (a CPU-bound loop at 128 MB
// did 0.26 of its 1,769 MB work where 0.072 is due); the Sentry's CPU cannot buy the
// function instructions, only system calls, which the stubs' quota paces.
//
// Layout: v1, "function" exists in the cpu and cpuacct hierarchies only, so memory,
// pids and the freezer still count the sandbox as one. v2 forbids processes in a
// cgroup whose children have controllers, so the Sentry and gofer move to a sibling
// "sentry" and the sandbox's cgroup keeps memory.max and the total cpu.max.
const (
	functionCgroup = "function"
	sentryCgroup   = "sentry"
)

// SentryCPUs is what the Sentry and the gofer may use beyond the function's share.
// It bounds the CPU a sandbox's system calls can cost the host; the function's
// instructions never get it.
const SentryCPUs = 0.25

// LimitCPU holds the stubs to the function's share (sandbox.CPUQuota) and the whole
// sandbox to that plus SentryCPUs; 0 lifts both. The first call moves the stubs
// into the "function" cgroup; the stubs the Sentry makes later are forked by one
// that is already there, and inherit it.
func (b *box) LimitCPU(ctx context.Context, cpus float64) error {
	rel := filepath.Join(b.d.cfg.CgroupParent, b.rid)
	if cpus <= 0 {
		if cgroupV2() {
			dir := filepath.Join("/sys/fs/cgroup", rel)
			return errors.Join(setQuota(dir, -1), setQuota(filepath.Join(dir, functionCgroup), -1))
		}
		dir := filepath.Join("/sys/fs/cgroup/cpu", rel)
		return errors.Join(setQuota(dir, -1), setQuota(filepath.Join(dir, functionCgroup), -1))
	}
	fq, _ := sandbox.CPUQuota(cpus)
	tq, _ := sandbox.CPUQuota(cpus + SentryCPUs)
	var top, fn string
	if cgroupV2() {
		top = filepath.Join("/sys/fs/cgroup", rel)
		fn = filepath.Join(top, functionCgroup)
		if err := b.splitV2(top); err != nil {
			return err
		}
	} else {
		top = filepath.Join("/sys/fs/cgroup/cpu", rel)
		fn = filepath.Join(top, functionCgroup)
		if err := b.splitV1(top, filepath.Join("/sys/fs/cgroup/cpuacct", rel)); err != nil {
			return err
		}
	}
	// In either order: a child's quota may exceed its parent's (the parent's binds).
	if err := setQuota(top, tq); err != nil {
		return err
	}
	return setQuota(fn, fq)
}

var _ sandbox.CPULimiter = (*box)(nil)

// splitV1 moves the stubs into top/function in the cpu and cpuacct hierarchies
// (cpuDir and acctDir are the same directory where the two are mounted together).
func (b *box) splitV1(cpuDir, acctDir string) error {
	b.watchSentry(cpuDir)
	for _, d := range []string{cpuDir, acctDir} {
		if err := os.Mkdir(filepath.Join(d, functionCgroup), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("gvisor: cpu cgroup: %w", err)
		}
	}
	// Twice: a stub forked by one not yet moved during the first pass is caught by
	// the second.
	for range 2 {
		for _, pid := range readPids(filepath.Join(cpuDir, "cgroup.procs")) {
			if !b.isStub(pid) {
				continue
			}
			for _, d := range []string{cpuDir, acctDir} {
				if err := movePid(filepath.Join(d, functionCgroup), pid); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// splitV2 moves the stubs into top/function, the Sentry and the gofer into
// top/sentry, and enables the cpu controller for them.
func (b *box) splitV2(top string) error {
	b.watchSentry(top)
	for _, c := range []string{functionCgroup, sentryCgroup} {
		if err := os.Mkdir(filepath.Join(top, c), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("gvisor: cpu cgroup: %w", err)
		}
	}
	for range 2 {
		for _, pid := range readPids(filepath.Join(top, "cgroup.procs")) {
			to := sentryCgroup
			if b.isStub(pid) {
				to = functionCgroup
			}
			if err := movePid(filepath.Join(top, to), pid); err != nil {
				return err
			}
		}
	}
	sub := filepath.Join(top, "cgroup.subtree_control")
	if cur, _ := os.ReadFile(sub); !slices.Contains(strings.Fields(string(cur)), "cpu") {
		if err := os.WriteFile(sub, []byte("+cpu"), 0o644); err != nil {
			return fmt.Errorf("gvisor: enable cpu for the sandbox's children: %w", err)
		}
	}
	return nil
}

// watchSentry removes the split's child cgroups as soon as the Sentry exits,
// however it ends. `runsc run` then removes the sandbox's cgroup, retrying every
// 100 ms for 5 s while a child is in the way, and holds the container's lock
// meanwhile: every exit (and every runsc command waiting for the lock, such as the
// reaper's kill) took ~5 s longer. The pidfd waits in Go's netpoller, not on a
// thread. top is the directory whose cgroup.procs lists the Sentry.
func (b *box) watchSentry(top string) {
	b.watchOnce.Do(func() {
		sentry := 0
		for _, pid := range readPids(filepath.Join(top, "cgroup.procs")) {
			if pp, ok := parentPid(pid); ok && pp == b.cmd.Process.Pid && isSentry(pid) {
				sentry = pid
				break
			}
		}
		if sentry == 0 {
			return
		}
		parent, rid := b.d.cfg.CgroupParent, b.rid
		fd, err := unix.PidfdOpen(sentry, unix.PIDFD_NONBLOCK)
		if err != nil { // gone already (ESRCH), or a kernel before 5.10
			go func() {
				<-b.done
				_ = removeSplit(parent, rid)
			}()
			return
		}
		f := os.NewFile(uintptr(fd), "sentry-pidfd")
		go func() {
			defer f.Close()
			if rc, err := f.SyscallConn(); err == nil {
				_ = rc.Read(func(fd uintptr) bool {
					p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
					n, err := unix.Poll(p, 0)
					return err != nil || n > 0
				})
			} else {
				<-b.done
			}
			_ = removeSplit(parent, rid)
		}()
	})
}

// isSentry: runsc runs the Sentry as `runsc-sandbox … boot …`, the gofer as
// `runsc-gofer … gofer …`.
func isSentry(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	for _, a := range bytes.Split(b, []byte{0}) {
		if string(a) == "boot" {
			return true
		}
	}
	return false
}

// isStub: the Sentry and the gofer are children of `runsc run`; every other process
// of the sandbox is a stub the Sentry made, or one of a stub's threads.
func (b *box) isStub(pid int) bool {
	pp, ok := parentPid(pid)
	return ok && pp != b.cmd.Process.Pid
}

// movePid moves a process into the cgroup dir; one that has exited meanwhile is
// not an error.
func movePid(dir string, pid int) error {
	err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("gvisor: move %d into %s: %w", pid, dir, err)
	}
	return nil
}

// parentPid reads a process's parent from /proc/PID/stat.
func parentPid(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// "pid (comm) S ppid …": the fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(string(f[1]))
	return pp, err == nil
}

// setQuota writes a cgroup's CFS quota per sandbox.CPUPeriod with a burst of one
// quota (see sandbox.CPUQuota); q < 0 lifts it. A cgroup that does not exist (no
// split yet) is left alone.
func setQuota(dir string, q time.Duration) error {
	if !isDir(dir) {
		return nil
	}
	period := int64(sandbox.CPUPeriod / time.Microsecond)
	quota := int64(q / time.Microsecond)
	if q < 0 {
		quota = -1
	}
	if cgroupV2() {
		// The kernel refuses a burst over the quota: clear it before the quota changes.
		if err := writeOptional(filepath.Join(dir, "cpu.max.burst"), "0"); err != nil {
			return fmt.Errorf("gvisor: cpu burst: %w", err)
		}
		v := fmt.Sprintf("%d %d", quota, period)
		if quota < 0 {
			v = fmt.Sprintf("max %d", period)
		}
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(v), 0o644); err != nil {
			return fmt.Errorf("gvisor: cpu quota: %w", err)
		}
		if quota > 0 {
			return writeOptional(filepath.Join(dir, "cpu.max.burst"), strconv.FormatInt(quota, 10))
		}
		return nil
	}
	if err := writeOptional(filepath.Join(dir, "cpu.cfs_burst_us"), "0"); err != nil {
		return fmt.Errorf("gvisor: cpu burst: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.FormatInt(period, 10)), 0o644); err != nil {
		return fmt.Errorf("gvisor: cpu period: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.FormatInt(quota, 10)), 0o644); err != nil {
		return fmt.Errorf("gvisor: cpu quota: %w", err)
	}
	if quota > 0 {
		return writeOptional(filepath.Join(dir, "cpu.cfs_burst_us"), strconv.FormatInt(quota, 10))
	}
	return nil
}

// removeSplit removes the sandbox's child cgroups, which runsc does not know and
// whose presence keeps it from removing the sandbox's own. Their processes are
// exiting with the Sentry; wait a little for them.
func removeSplit(parent, rid string) error {
	return rmdirAll(childCgroups(parent, rid))
}

// removeCgroups removes what is left of the sandbox's cgroups, children first.
// `runsc run` removes its cgroups when the sandbox exits, before removeSplit can
// run, and leaves the cpu and cpuacct ones it could not remove.
func removeCgroups(parent, rid string) error {
	return rmdirAll(sandboxCgroups(parent, rid))
}

func rmdirAll(dirs []string) error {
	var errs []error
	for _, dir := range dirs {
		deadline := time.Now().Add(2 * time.Second)
		for {
			err := syscall.Rmdir(dir)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("gvisor: remove cgroup %s: %w", dir, err))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// childCgroups are the split's directories that exist, in every hierarchy.
func childCgroups(parent, rid string) []string {
	var dirs []string
	for _, c := range []string{functionCgroup, sentryCgroup} {
		v1, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent, rid, c))
		dirs = append(dirs, v1...)
		if v2 := filepath.Join("/sys/fs/cgroup", parent, rid, c); isDir(v2) {
			dirs = append(dirs, v2)
		}
	}
	return dirs
}

// writeOptional writes a control file that older kernels lack (the CFS burst,
// Linux ≥ 5.14).
func writeOptional(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
