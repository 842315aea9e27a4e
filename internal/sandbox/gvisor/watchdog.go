//go:build linux

package gvisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/sandbox/watchdog"
)

// When the server dies. A gVisor sandbox is `runsc run` (its own process group, so
// it does not share the server's signals), a gofer and the Sentry; none of them
// dies with the server, and a paused sandbox never notices that its stdin closed.
// Its runsc root also keeps a bind mount of an empty network namespace
// (null-netns) that stops the data directory from being removed. So every Driver
// starts a watchdog (package watchdog) that, once the driver's process is gone,
// takes the state directory's lock and reaps: every process that names this runsc
// root on its command line and every task in the sandboxes' cgroups is killed, then
// runsc's state, the bundles and the cgroups are removed, null-netns and the
// sandboxes' network namespaces (netns.go) unmounted.
// New does the same when it starts on a state directory a crashed process left.

// watchdogArg is os.Args[1] of the driver's watchdog process.
const watchdogArg = "__hearth-gvisor-watchdog"

// The watchdog is dispatched here, in init, and not in main: any binary that runs a
// Driver (hearth, a test binary, an embedder) is re-executed as its watchdog, and
// one that did not know the marker would start over as itself — a test binary
// would run its tests again. The check is one comparison per process start.
func init() {
	if len(os.Args) > 1 && os.Args[1] == watchdogArg {
		os.Exit(watchdogMain(os.Args[2:]))
	}
}

// lockName, in the state directory, is flocked exclusively by the live driver, and
// by whoever reaps after it: a watchdog never reaps under a new driver's feet.
const lockName = "lock"

// lockState takes the state directory's lock, waiting up to wait (a dead server's
// watchdog may be reaping).
func lockState(stateDir string, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(stateDir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("state directory %s is in use by another gVisor driver", stateDir)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return f, nil
}

func (d *Driver) startWatchdog() error {
	p, err := watchdog.Start(watchdogArg, d.cfg.Runsc, d.cfg.StateDir, d.cfg.Platform, d.cfg.CgroupParent)
	if err != nil {
		return fmt.Errorf("gvisor: %w", err)
	}
	d.dog = p
	return nil
}

func watchdogMain(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("watchdog", "gvisor")
	if len(args) != 4 {
		log.Error("want runsc, state directory, platform and cgroup parent", "args", args)
		return 2
	}
	cfg := Config{Runsc: args[0], StateDir: args[1], Platform: args[2], CgroupParent: args[3]}
	if !watchdog.Wait() {
		return 0
	}
	// The dead driver's lock goes with its last descriptor, a moment after the pipe
	// reports EOF. A driver that holds it for longer is a new one, which reaped
	// what was left when it started.
	lock, err := lockState(cfg.StateDir, 10*time.Second)
	if err != nil {
		log.Info("the server died; leaving its state directory to the driver that holds it", "reason", err)
		return 0
	}
	defer lock.Close()
	n, err := reap(cfg)
	if err != nil {
		log.Error("the server died; removing its sandboxes failed", "sandboxes", n, "err", err)
		return 1
	}
	log.Warn("the server died; its sandboxes were killed and removed", "sandboxes", n)
	return 0
}

// reap kills and removes every sandbox of the state directory: processes first
// (killing needs no cooperation from runsc, and a paused Sentry answers no runsc
// command that would end it), then runsc's state, the bundles, the cgroups, the
// null-netns mount and the sandboxes' network namespace mounts. It returns how
// many sandboxes it found.
func reap(cfg Config) (int, error) {
	root := filepath.Join(cfg.StateDir, "root")
	ids := leftoverIDs(cfg.StateDir, root)
	pids := runscProcesses(root)
	for _, id := range ids {
		for _, dir := range sandboxCgroups(cfg.CgroupParent, id) {
			thaw(dir)
			pids = append(pids, readPids(filepath.Join(dir, "cgroup.procs"))...)
		}
	}
	self := os.Getpid()
	for _, pid := range pids {
		if pid != self {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	var errs []error
	if left := waitGone(pids, 5*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("gvisor: processes %v survived SIGKILL", left))
	}
	for _, id := range ids {
		// The CPU split's children first: runsc would retry removing the sandbox's
		// cgroup for 5 s while they are in the way.
		if err := removeSplit(cfg.CgroupParent, id); err != nil {
			errs = append(errs, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, cfg.Runsc, "--root", root, "--platform", cfg.Platform, "--network", "none", "delete", "--force", id)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil && !bytes.Contains(out, []byte("does not exist")) {
			errs = append(errs, fmt.Errorf("gvisor: runsc delete --force %s: %v: %s", id, err, bytes.TrimSpace(out)))
		}
		if err := os.RemoveAll(filepath.Join(cfg.StateDir, "bundles", id)); err != nil {
			errs = append(errs, fmt.Errorf("gvisor: %w", err))
		}
		for _, dir := range sandboxCgroups(cfg.CgroupParent, id) {
			if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("gvisor: remove cgroup %s: %w", dir, err))
			}
		}
	}
	if err := unmountNullNetns(root); err != nil {
		errs = append(errs, err)
	}
	// The sandboxes' own network namespaces (netns.go): with their mounts gone and
	// their Sentries dead, the kernel deletes them and their veth pairs.
	if err := removeAllNetns(cfg.StateDir); err != nil {
		errs = append(errs, err)
	}
	return len(ids), errors.Join(errs...)
}

// leftoverIDs are the container IDs with a bundle or with runsc state
// ("ID_sandbox:ID.state", "ID_sandbox:ID.lock", "runsc-ID.sock") under root.
func leftoverIDs(stateDir, root string) []string {
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if id != "" && !seen[id] && validID(id) {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	bundles, _ := os.ReadDir(filepath.Join(stateDir, "bundles"))
	for _, e := range bundles {
		add(e.Name())
	}
	states, _ := os.ReadDir(root)
	for _, e := range states {
		name := e.Name()
		if id, _, ok := strings.Cut(name, "_sandbox:"); ok {
			add(id)
		} else if id, ok := strings.CutPrefix(name, "runsc-"); ok {
			add(strings.TrimSuffix(id, ".sock"))
		}
	}
	return ids
}

// runscProcesses finds the processes whose command line names root as runsc's
// --root: `runsc run` ("--root ROOT"), the gofer and the Sentry ("--root=ROOT"),
// and the Sentry's stub processes, which share its command line.
func runscProcesses(root string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i, a := range args {
			if a == "--root="+root || a == "--root" && i+1 < len(args) && args[i+1] == root {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// sandboxCgroups are the directories of a sandbox's cgroup that exist: the CPU
// split's children (cpu.go) before the sandbox's own, one per v1 hierarchy or the
// v2 one, so that removing them in order works.
func sandboxCgroups(parent, id string) []string {
	dirs := childCgroups(parent, id)
	v1, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent, id))
	dirs = append(dirs, v1...)
	if v2 := filepath.Join("/sys/fs/cgroup", parent, id); isDir(v2) {
		dirs = append(dirs, v2)
	}
	return dirs
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// thaw lifts a cgroup freezer, under which a task cannot act on SIGKILL.
func thaw(dir string) {
	if isDir(dir) {
		os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0) // v1
		os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)      // v2
	}
}

func readPids(path string) []int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// waitGone waits until none of pids is alive (gone, or a zombie its parent has not
// reaped yet), and returns those still alive after timeout.
func waitGone(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		var alive []int
		for _, pid := range pids {
			if running(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		pids = alive
		time.Sleep(10 * time.Millisecond)
	}
}

// running: the process exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S …": the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
