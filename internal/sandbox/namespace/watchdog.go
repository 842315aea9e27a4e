//go:build linux

package namespace

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/sandbox/watchdog"
)

// When the server dies. The setup processes carry a parent-death signal, so a
// running sandbox dies with the thread that forked it; a frozen one does not (a
// task the v1 freezer holds acts on SIGKILL only once thawed), and stays frozen for
// good. So every Driver starts a watchdog (package watchdog) that, once the
// driver's process is gone, takes the cgroup parent's lock exclusively, thaws,
// kills and removes every sandbox cgroup under it, and removes the parent itself.
// The parent is the driver's own (by default one per state directory, see
// Config.CgroupParent): no other server's sandboxes live there.

// watchdogArg is os.Args[1] of the driver's watchdog process.
const watchdogArg = "__hearth-namespace-watchdog"

// The watchdog is dispatched here, in init, and not in main as SetupArg is: any
// binary that runs a Driver (hearth, a test binary, an embedder) is re-executed as
// its watchdog, and one that did not know the marker would start over as itself —
// a test binary would run its tests again, each starting a driver and a watchdog.
// The check is one comparison in every process of the binary.
func init() {
	if len(os.Args) > 1 && os.Args[1] == watchdogArg {
		os.Exit(watchdogMain(os.Args[2:]))
	}
}

// startWatchdog starts the driver's watchdog, which is told where the sandboxes'
// cgroups are.
func (d *Driver) startWatchdog() error {
	p, err := watchdog.Start(append([]string{watchdogArg}, cgroupArgs(d.cg)...)...)
	if err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	d.dog = p
	return nil
}

func watchdogMain(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("watchdog", "namespace")
	cg, err := cgroupsFromArgs(args)
	if err != nil {
		log.Error("bad arguments", "err", err)
		return 2
	}
	if !watchdog.Wait() {
		return 0
	}
	n, err := reapOrphans(cg, 10*time.Second)
	switch {
	case err != nil:
		log.Error("the server died; removing its sandboxes failed", "err", err)
		return 1
	case n >= 0:
		log.Warn("the server died; its sandboxes were killed and removed", "sandboxes", n)
	}
	return 0
}

// reapOrphans kills and removes every sandbox under the parent once it can take
// the parent's lock exclusively (the dead driver's shared lock goes with its last
// descriptor, a moment after the watchdog's pipe reports EOF), then removes the
// parent. It returns -1 if another driver holds the lock all along: that one took
// the parent over, and removed what was left when it started (lockAndClean).
func reapOrphans(cg cgroupSystem, wait time.Duration) (int, error) {
	f, err := os.Open(cg.lockDir())
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	deadline := time.Now().Add(wait)
	for unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			return -1, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	left, _ := cg.children()
	d := &Driver{cg: cg}
	if err := d.removeLeftovers(); err != nil {
		return len(left), err
	}
	rmdirParents(cg)
	return len(left), nil
}

// rmdirParents removes the parent's directories, if empty. Only the holder of the
// exclusive lock does this; a driver that then gets the lock sees that its
// directory is gone (parentsIntact) and starts again.
func rmdirParents(cg cgroupSystem) {
	switch s := cg.(type) {
	case *cgroupV1:
		for _, dir := range s.uniques {
			syscall.Rmdir(dir)
		}
	case *cgroupV2:
		syscall.Rmdir(s.dir)
	}
}

// parentsIntact says whether the directory locked by f is still the parent's and
// every hierarchy's parent directory is there.
func parentsIntact(cg cgroupSystem, f *os.File) bool {
	var locked, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &locked) != nil || unix.Stat(cg.lockDir(), &now) != nil {
		return false
	}
	if locked.Dev != now.Dev || locked.Ino != now.Ino {
		return false
	}
	if s, ok := cg.(*cgroupV1); ok {
		for _, dir := range s.uniques {
			if _, err := os.Stat(dir); err != nil {
				return false
			}
		}
	}
	return true
}

// cgroupArgs describes where a cgroupSystem's directories are, for the watchdog:
// "v1" and controller=dir pairs, or "v2" and the directory.
func cgroupArgs(cg cgroupSystem) []string {
	switch s := cg.(type) {
	case *cgroupV1:
		args := []string{"v1"}
		for _, c := range v1Controllers {
			args = append(args, c+"="+s.parent[c])
		}
		return args
	case *cgroupV2:
		return []string{"v2", s.dir}
	}
	return nil
}

func cgroupsFromArgs(args []string) (cgroupSystem, error) {
	if len(args) == 2 && args[0] == "v2" {
		return &cgroupV2{dir: args[1]}, nil
	}
	if len(args) == 0 || args[0] != "v1" {
		return nil, fmt.Errorf("want v1 controller=dir… or v2 dir, got %q", args)
	}
	s := &cgroupV1{parent: map[string]string{}}
	seen := map[string]bool{}
	for _, a := range args[1:] {
		c, dir, ok := strings.Cut(a, "=")
		if !ok || dir == "" {
			return nil, fmt.Errorf("want controller=dir, got %q", a)
		}
		s.parent[c] = dir
		if !seen[dir] {
			seen[dir] = true
			s.uniques = append(s.uniques, dir)
		}
	}
	for _, c := range v1Controllers {
		if s.parent[c] == "" {
			return nil, fmt.Errorf("no directory for controller %q", c)
		}
	}
	return s, nil
}

// errParentGone: the cgroup parent was removed (by a watchdog or a closing driver
// holding its lock) between New creating it and locking it.
var errParentGone = errors.New("namespace: the cgroup parent was removed meanwhile")
