package e2e

// Envs die with their server, however it dies. A `kill -9` of `hearth serve` gives
// it no chance to stop anything: a busy env, a frozen one (the cgroup freezer, or
// runsc pause), the namespace driver's warm setup processes and gVisor's booted-ahead
// sandbox must all be gone within seconds anyway (the driver's watchdog), and the
// data directory must be removable (no mount left in it). When the watchdog is
// killed too, the next start on the same data directory removes what was left.

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// crashDeadline bounds how long after the kill the envs may take to go.
const crashDeadline = 10 * time.Second

func TestCrashKillsEnvs(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		dir := t.TempDir()
		s := startServer(t, serverOptions{dataDir: dir, sandbox: driver})
		sleeping := busyAndFrozenEnvs(t, s, driver)
		snap := snapshotServer(t, s, driver)

		killed := time.Now()
		if err := s.kill(); err != nil { // returns once the server's stderr closes: the watchdog holds it too
			t.Fatalf("kill -9: %v", err)
		}
		if err := <-sleeping; err == nil {
			t.Error("the long invocation answered although its server was killed")
		}
		snap.wantGone(t, killed, crashDeadline)
		t.Logf("every env process was gone %v after kill -9", time.Since(killed).Round(time.Millisecond))
		if !strings.Contains(s.logs(), "the server died; its sandboxes were killed and removed") {
			t.Errorf("the watchdog did not report its work in the server's log:\n%s", s.logs())
		}
		wantRemovable(t, dir, snap)
		wantNetworkGone(t, s)
	})
}

// wantNetworkGone checks that a killed server's env network went with it (its
// watchdog's work): no route to its subnet, no nftables table of its own.
func wantNetworkGone(t *testing.T, s *server) {
	t.Helper()
	subnet := ""
	for i, a := range s.cmd.Args {
		if a == "--env-subnet" && i+1 < len(s.cmd.Args) {
			subnet = s.cmd.Args[i+1]
		}
	}
	_, dst, err := net.ParseCIDR(subnet)
	if err != nil {
		t.Fatalf("the server's --env-subnet %q: %v", subnet, err)
	}
	h := fnv.New32a()
	h.Write([]byte(s.dataDir))
	table := fmt.Sprintf("hearth_h%05x", h.Sum32()&0xfffff)
	eventually(t, crashDeadline, "the killed server's env network removed", func() error {
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: dst}, netlink.RT_FILTER_DST)
		if err != nil {
			return err
		}
		if len(routes) > 0 {
			return fmt.Errorf("the route to %s is still there: %v", subnet, routes)
		}
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTables()
		if err != nil {
			return err
		}
		for _, tb := range tables {
			if tb.Name == table {
				return fmt.Errorf("the nftables table %s is still there", table)
			}
		}
		return nil
	})
}

func TestCrashLeftoversRemovedOnRestart(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		dir := t.TempDir()
		s := startServer(t, serverOptions{dataDir: dir, sandbox: driver})
		sleeping := busyAndFrozenEnvs(t, s, driver)
		snap := snapshotServer(t, s, driver)
		if snap.watchdog == 0 {
			t.Fatal("the server has no watchdog process (a child whose second argument names a watchdog)")
		}

		// The watchdog first, so that it cannot act; then the server.
		if err := syscall.Kill(snap.watchdog, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := s.kill(); err != nil {
			t.Fatalf("kill -9: %v", err)
		}
		<-sleeping
		// The frozen env cannot die of the parent-death signal: it is left, which is
		// what the next start must remove.
		if left := snap.leftovers(); len(left) == 0 {
			t.Fatal("nothing was left after killing the server and its watchdog: this test would check nothing")
		}

		s2 := startServer(t, serverOptions{dataDir: dir, sandbox: driver})
		snap.except = s2.cmd.Process.Pid // the new server's own processes name the data directory too
		snap.wantGone(t, time.Now(), crashDeadline)
		// The new server works on the data directory it cleaned.
		fn := deploy(t, s2, kindPython)
		s2.invokeOK(t, fn, map[string]any{"action": "echo"}, invokeOpts{})
		snap2 := snapshotServer(t, s2, driver)
		if err := s2.stop(); err != nil {
			t.Fatalf("hearth did not shut down cleanly: %v\n%s", err, s2.logs())
		}
		snap2.wantGone(t, time.Now(), crashDeadline)
		wantRemovable(t, dir, snap, snap2)
	})
}

// busyAndFrozenEnvs deploys a Python function and leaves two envs: one busy in a
// minute-long invocation (whose outcome the channel delivers) and one idle and
// frozen.
func busyAndFrozenEnvs(t *testing.T, s *server, driver string) <-chan error {
	t.Helper()
	fn := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(120) })
	want := func(frozen, thawed int) {
		t.Helper()
		eventually(t, 30*time.Second, fmt.Sprintf("%d frozen and %d running envs", frozen, thawed), func() error {
			f, r, err := envFreezeStates(s, driver)
			if err != nil {
				return err
			}
			if f != frozen || r != thawed {
				return fmt.Errorf("%d frozen and %d running", f, r)
			}
			return nil
		})
	}
	s.invokeOK(t, fn, map[string]any{"action": "echo"}, invokeOpts{})
	want(1, 0) // idle past --freeze-after (100 ms)
	sleeping := make(chan error, 1)
	go func() {
		r, err := s.invokeE(fn, map[string]any{"action": "sleep", "seconds": 60}, invokeOpts{timeout: 90 * time.Second})
		if err == nil && r.Status != http.StatusOK {
			err = fmt.Errorf("status %d", r.Status)
		}
		sleeping <- err
	}()
	want(0, 1) // the idle env was thawed for the long invocation
	s.invokeOK(t, fn, map[string]any{"action": "echo"}, invokeOpts{})
	want(1, 1) // a second env started, answered and was frozen
	select {
	case err := <-sleeping:
		t.Fatalf("the minute-long invocation ended early: %v", err)
	default:
	}
	return sleeping
}

// envFreezeStates counts the server's envs that are frozen and those that are not:
// from the freezer cgroups of its envs (namespace) or runsc's own list (gVisor;
// a booted-ahead sandbox no env has taken is not an env).
func envFreezeStates(s *server, driver string) (frozen, running int, err error) {
	switch driver {
	case "namespace":
		parent := namespaceCgroupParent(s)
		if parent == "" {
			return 0, 0, fmt.Errorf("no process of the server is in a sandbox cgroup yet")
		}
		states, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/freezer", parent, "env-*", "freezer.state"))
		for _, st := range states {
			b, err := os.ReadFile(st)
			if err != nil {
				continue // killed meanwhile
			}
			if strings.TrimSpace(string(b)) == "FROZEN" {
				frozen++
			} else {
				running++
			}
		}
		return frozen, running, nil
	case "gvisor":
		// The driver pauses a sandbox through the Sentry's control socket, which
		// leaves runsc's state file saying running; it marks a paused sandbox with
		// a file in its bundle. Each of this server's sandboxes, named by its
		// bundles:
		bundles, err := os.ReadDir(filepath.Join(s.dataDir, "sandbox", "gvisor", "bundles"))
		if err != nil {
			return 0, 0, err
		}
		for _, b := range bundles {
			dir := filepath.Join(s.dataDir, "sandbox", "gvisor", "bundles", b.Name())
			_, taken := os.Stat(filepath.Join(dir, "env"))
			if !strings.HasPrefix(b.Name(), "env-") && taken != nil {
				continue // booted ahead, not an env
			}
			if _, err := os.Stat(filepath.Join(dir, "paused")); err == nil {
				frozen++
			} else {
				running++
			}
		}
		return frozen, running, nil
	}
	return 0, 0, fmt.Errorf("unknown driver %q", driver)
}

// namespaceCgroupParent is the freezer cgroup under which the namespace driver of
// s puts its sandboxes (env-… and warm-…), found from the server's children.
func namespaceCgroupParent(s *server) string {
	for _, p := range descendants(s.cmd.Process.Pid) {
		for _, path := range cgroupPaths(p.pid) {
			if c, rest, ok := strings.Cut(path, "freezer:/"); ok && c != "" && strings.Count(rest, "/") == 1 {
				name := rest[strings.Index(rest, "/")+1:]
				if strings.HasPrefix(name, "env-") || strings.HasPrefix(name, "warm-") {
					return rest[:strings.Index(rest, "/")]
				}
			}
		}
	}
	return ""
}

// ---------------------------------------------------------------------------
// Processes

type proc struct {
	pid   int
	start string // starttime in /proc/PID/stat: a reused pid is another process
}

// procStat reads a process's parent, start time and state.
func procStat(pid int) (ppid int, start string, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", 0, false
	}
	f := strings.Fields(string(b[i+1:])) // state ppid pgrp … starttime is field 22, here index 19
	if len(f) < 20 {
		return 0, "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[19], f[0][0], true
}

func allPids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// descendants lists every living process below pid.
func descendants(pid int) []proc {
	children := map[int][]proc{}
	for _, p := range allPids() {
		if ppid, start, state, ok := procStat(p); ok && state != 'Z' {
			children[ppid] = append(children[ppid], proc{p, start})
		}
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out
}

// cgroupPaths are a process's /proc/PID/cgroup lines, "ID:CONTROLLERS:/PATH".
func cgroupPaths(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}

// serverSnapshot is what marks a process as one of a server's envs: being below
// the server when it was taken (the watchdog included), being in a cgroup one of
// those processes was in and the server is not (env-…, warm-…, spare-…), or naming
// the data directory on its command line (runsc --root DATA/…).
type serverSnapshot struct {
	dataDir  string
	procs    []proc
	cgroups  map[string]bool // "CONTROLLERS:/PATH" of the envs' cgroups
	watchdog int
	// nsParent is the namespace driver's cgroup parent, its own, which must go too.
	nsParent string
	// except: processes below this pid (a new server on the same data directory)
	// are not leftovers.
	except int
}

func snapshotServer(t *testing.T, s *server, driver string) *serverSnapshot {
	t.Helper()
	pid := s.cmd.Process.Pid
	own := map[string]bool{}
	for _, line := range cgroupPaths(pid) {
		own[line[strings.Index(line, ":")+1:]] = true
	}
	snap := &serverSnapshot{dataDir: s.dataDir, cgroups: map[string]bool{}}
	if driver == "namespace" {
		snap.nsParent = namespaceCgroupParent(s)
	}
	snap.procs = descendants(pid)
	for _, p := range snap.procs {
		if args := strings.Fields(cmdline(p.pid)); len(args) > 1 && strings.Contains(args[1], "watchdog") {
			snap.watchdog = p.pid
		}
		for _, line := range cgroupPaths(p.pid) {
			cg := line[strings.Index(line, ":")+1:]
			if !own[cg] && !strings.HasSuffix(cg, ":/") {
				snap.cgroups[cg] = true
			}
		}
	}
	if len(snap.cgroups) == 0 {
		t.Fatalf("no process of the server is in a cgroup of its own: its envs cannot be told apart (%d processes below it)", len(snap.procs))
	}
	return snap
}

// leftovers describes the living processes the snapshot marks as the server's.
func (s *serverSnapshot) leftovers() []string {
	was := map[proc]bool{}
	for _, p := range s.procs {
		was[p] = true
	}
	skip := map[int]bool{os.Getpid(): true}
	if s.except != 0 {
		skip[s.except] = true
		for _, p := range descendants(s.except) {
			skip[p.pid] = true
		}
	}
	var out []string
	for _, pid := range allPids() {
		if skip[pid] {
			continue
		}
		_, start, state, ok := procStat(pid)
		if !ok || state == 'Z' {
			continue
		}
		why := ""
		if was[proc{pid, start}] {
			why = "was below the server"
		} else if strings.Contains(cmdline(pid), s.dataDir+"/") {
			why = "names the data directory"
		} else {
			for _, line := range cgroupPaths(pid) {
				cg := line[strings.Index(line, ":")+1:]
				for env := range s.cgroups {
					if cg == env || strings.HasPrefix(cg, env+"/") {
						why = "in cgroup " + env
					}
				}
			}
		}
		if why != "" {
			out = append(out, fmt.Sprintf("pid %d (%s): %s", pid, why, cmdline(pid)))
		}
	}
	return out
}

// wantGone requires that no process of the snapshot's server is left within d of
// since.
func (s *serverSnapshot) wantGone(t *testing.T, since time.Time, d time.Duration) {
	t.Helper()
	for {
		left := s.leftovers()
		if len(left) == 0 {
			return
		}
		if time.Since(since) > d {
			t.Fatalf("%d processes of the server's envs are still there %v after it died:\n%s", len(left), d, strings.Join(left, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantRemovable requires that no mount is left in the data directory, that the
// envs' cgroups are gone, and that the directory can be removed.
func wantRemovable(t *testing.T, dir string, snaps ...*serverSnapshot) {
	t.Helper()
	if left := mountsUnder(dir); len(left) > 0 {
		t.Errorf("mounts left in the data directory: %v", left)
		unmountAll(left)
	}
	for _, snap := range snaps {
		if snap.nsParent != "" {
			if matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", snap.nsParent)); len(matches) > 0 {
				t.Errorf("the namespace driver's cgroup parent is left: %v", matches)
			}
		}
		for cg := range snap.cgroups {
			path := cg[strings.Index(cg, ":/")+1:]
			if matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", path)); len(matches) > 0 {
				t.Errorf("cgroup left: %v", matches)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("the data directory cannot be removed: %v", err)
	}
}
