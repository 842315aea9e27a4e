//go:build linux

package namespace

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

func TestParseMountinfo(t *testing.T) {
	hybrid := `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime shared:5 - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	m, err := parseMountinfo(strings.NewReader(hybrid))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory": "/sys/fs/cgroup/memory", "freezer": "/sys/fs/cgroup/freezer", "pids": "/sys/fs/cgroup/pids"}
	for k, v := range want {
		if m.v1[k] != v {
			t.Errorf("v1[%s] = %q, want %q", k, m.v1[k], v)
		}
	}
	if m.v2 != "/sys/fs/cgroup/unified" {
		t.Errorf("v2 = %q", m.v2)
	}
	unified, _ := parseMountinfo(strings.NewReader("29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"))
	if len(unified.v1) != 0 || unified.v2 != "/sys/fs/cgroup" {
		t.Errorf("unified host: %+v", unified)
	}
	if got := unescapeMountinfo(`/a\040b`); got != "/a b" {
		t.Errorf("unescape = %q", got)
	}
}

func TestLimitsOf(t *testing.T) {
	l := limitsOf(specWith(128, 0.5, 64))
	if l.MemoryBytes != 128<<20 || l.CPUQuotaUS != int64(cgroupPeriodUS/2) || l.Pids != 64 {
		t.Errorf("limits = %+v", l)
	}
	if l := limitsOf(specWith(128, 0.001, 0)); l.CPUQuotaUS != 1000 {
		t.Errorf("tiny quota = %d, want the kernel's minimum 1000", l.CPUQuotaUS)
	}
}

func specWith(memMB int, cpus float64, pids int) sandbox.Spec {
	return sandbox.Spec{MemoryMB: memMB, CPUs: cpus, Pids: pids}
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
}

func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("process ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("process not killed")
	}
}

// TestCgroupV2 runs the v2 implementation against the real cgroup2 mount. On a
// hybrid host (this CI machine: controllers on v1, cgroup2 at /sys/fs/cgroup/unified
// without controllers) only the core files exist: procs, freeze, events, kill,
// cpu.stat. Limits are covered on pure v2 hosts by TestConformance.
func TestCgroupV2(t *testing.T) {
	needRoot(t)
	mounts, err := cgroupMounts()
	if err != nil || mounts.v2 == "" {
		t.Skip("no cgroup2 mount")
	}
	strict := len(mounts.v1) == 0
	parent := "hearth-test-v2-" + strconv.Itoa(os.Getpid())
	sys, err := newCgroupV2(mounts.v2, parent, strict)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(mounts.v2, parent)) })
	g, err := sys.create("sb1", limits{MemoryBytes: 64 << 20, CPUQuotaUS: 50000, Pids: 16})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.create("sb1", limits{}); err == nil {
		t.Error("creating an existing cgroup succeeded")
	}
	cmd := sleeper(t)
	if err := g.addProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if !g.populated() {
		t.Error("not populated after addProc")
	}
	ctx := context.Background()
	if err := g.freeze(ctx); err != nil {
		t.Fatal(err)
	}
	if g.(*cgroupV2Group).event("frozen") != 1 {
		t.Error("cgroup.events does not say frozen")
	}
	if err := g.thaw(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.stats(); err != nil {
		t.Errorf("stats: %v", err)
	}
	if g.oomKilled() {
		t.Error("oomKilled without an OOM")
	}
	kids, err := sys.children()
	if err != nil || len(kids) != 1 || kids[0].name() != "sb1" {
		t.Errorf("children = %v, %v", kids, err)
	}
	// Kill a frozen cgroup: cgroup.kill works on frozen tasks.
	if err := g.freeze(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.killAll(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	if err := g.remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mounts.v2, parent, "sb1")); !os.IsNotExist(err) {
		t.Errorf("cgroup still exists: %v", err)
	}
	if err := g.killAll(); err != nil {
		t.Errorf("killAll of a removed cgroup: %v", err)
	}
}

// TestLeftovers: New kills and removes what a crashed process left under its parent.
func TestLeftovers(t *testing.T) {
	needRoot(t)
	parent := "hearth-test-leftover-" + strconv.Itoa(os.Getpid())
	sys, err := detectCgroups(parent)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { removeParent(sys, parent) })
	g, err := sys.create("crashed", limits{MemoryBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cmd := sleeper(t)
	if err := g.addProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// The first driver on the parent finds nobody else using it and cleans up.
	live, err := New(Config{StateDir: t.TempDir(), CgroupParent: parent, Exe: os.Args[0], Warm: -1})
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	kids, _ := sys.children()
	if len(kids) != 0 {
		t.Errorf("leftovers after New: %v", kids)
	}

	// While it lives, a second driver on the same parent must not touch its sandboxes.
	g2, err := sys.create("alive", limits{})
	if err != nil {
		t.Fatal(err)
	}
	cmd2 := sleeper(t)
	if err := g2.addProc(cmd2.Process.Pid); err != nil {
		t.Fatal(err)
	}
	second, err := New(Config{StateDir: t.TempDir(), CgroupParent: parent, Exe: os.Args[0], Warm: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(cmd2.Process.Pid, 0); err != nil {
		t.Errorf("a second driver killed a sandbox of a live one: %v", err)
	}
	second.Close()
	live.Close()
	g2.killAll()
	waitExit(t, cmd2)
	if err := g2.remove(context.Background()); err != nil {
		t.Error(err)
	}
}

func removeParent(sys cgroupSystem, parent string) {
	switch s := sys.(type) {
	case *cgroupV1:
		for _, d := range s.uniques {
			os.Remove(d)
		}
	case *cgroupV2:
		os.Remove(s.dir)
	}
}
