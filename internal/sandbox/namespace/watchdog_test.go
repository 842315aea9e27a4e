//go:build linux

package namespace

import (
	"context"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// orphanParent makes a cgroup parent of its own holding one cgroup whose process
// (a sleep) is frozen: what a server that died leaves.
func orphanParent(t *testing.T) (cgroupSystem, *exec.Cmd) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	parent := "hearth-test-reap-" + strconv.Itoa(os.Getpid())
	cg, err := detectCgroups(parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeParent(cg, parent) })
	g, err := cg.create("env-orphan", limits{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.killAll()
		cmd.Process.Kill()
		cmd.Wait()
		g.remove(context.Background())
	})
	if err := g.addProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := g.freeze(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cg, cmd
}

// TestReapOrphansKillsFrozen: the watchdog's work kills a frozen sandbox (which a
// plain SIGKILL does not end) and removes its cgroup and the parent.
func TestReapOrphansKillsFrozen(t *testing.T) {
	cg, cmd := orphanParent(t)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	n, err := reapOrphans(cg, 5*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("reapOrphans = %d, %v; want 1 sandbox", n, err)
	}
	select {
	case err := <-waited:
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("the frozen process ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the frozen process is still running after reapOrphans")
	}
	if _, err := os.Stat(cg.lockDir()); !os.IsNotExist(err) {
		t.Errorf("the cgroup parent %s is still there (%v)", cg.lockDir(), err)
	}
}

// TestReapOrphansYieldsToALiveDriver: while another driver holds the parent's lock
// (it took the parent over), the watchdog leaves everything alone.
func TestReapOrphansYieldsToALiveDriver(t *testing.T) {
	cg, cmd := orphanParent(t)
	f, err := os.Open(cg.lockDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	if n, err := reapOrphans(cg, 100*time.Millisecond); n != -1 || err != nil {
		t.Fatalf("reapOrphans = %d, %v; want -1 (another driver holds the parent)", n, err)
	}
	if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
		t.Errorf("the live driver's sandbox was touched: %v", err)
	}
}

// TestNewAfterParentRemoved: a driver whose cgroup parent was removed between its
// creation and the lock (by a dead server's watchdog) creates it again.
func TestNewAfterParentRemoved(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	parent := "hearth-test-gone-" + strconv.Itoa(os.Getpid())
	cg, err := detectCgroups(parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeParent(cg, parent) })
	rmdirParents(cg)
	d := &Driver{cg: cg}
	if err := d.lockAndClean(); err != errParentGone {
		t.Fatalf("lockAndClean on a removed parent = %v, want errParentGone", err)
	}
	state := t.TempDir()
	d2, err := New(Config{StateDir: state, CgroupParent: parent, Exe: os.Args[0], Warm: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cg.lockDir()); !os.IsNotExist(err) {
		t.Errorf("Close left the unused cgroup parent %s (%v)", cg.lockDir(), err)
	}
}

func TestCgroupArgsRoundTrip(t *testing.T) {
	v1 := &cgroupV1{parent: map[string]string{}}
	for _, c := range v1Controllers {
		dir := "/sys/fs/cgroup/" + c + "/p"
		if c == "cpuacct" {
			dir = "/sys/fs/cgroup/cpu/p" // mounted together with cpu
		}
		v1.parent[c] = dir
		if c != "cpuacct" {
			v1.uniques = append(v1.uniques, dir)
		}
	}
	for _, cg := range []cgroupSystem{v1, &cgroupV2{dir: "/sys/fs/cgroup/p"}} {
		got, err := cgroupsFromArgs(cgroupArgs(cg))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, cg) {
			t.Errorf("round trip of %#v gave %#v", cg, got)
		}
	}
	for _, bad := range [][]string{nil, {"v3"}, {"v1", "memory"}, {"v1", "memory=/x"}} {
		if _, err := cgroupsFromArgs(bad); err == nil {
			t.Errorf("cgroupsFromArgs(%q) accepted", bad)
		}
	}
}
