//go:build linux

package gvisor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/sandbox/sandboxtest"
)

// TestCPUSplit: LimitCPU holds the stub processes (the function's instructions) to
// the function's quota in the "function" cgroup, leaves the Sentry and the gofer
// outside it under the larger total, keeps processes the function starts later
// inside, and Kill leaves no cgroup behind.
func TestCPUSplit(t *testing.T) {
	const cpus = 0.1
	p, b := startLimited(t, cpus)
	ctx := context.Background()
	top := filepath.Join("/sys/fs/cgroup/cpu", parent, b.rid)
	outside := top
	if cgroupV2() {
		top = filepath.Join("/sys/fs/cgroup", parent, b.rid)
		outside = filepath.Join(top, sentryCgroup)
	}
	fn := filepath.Join(top, functionCgroup)
	runsc := b.cmd.Process.Pid

	// Only children of `runsc run` (the Sentry and the gofer) stay outside.
	check := func(when string) {
		t.Helper()
		out := readPids(filepath.Join(outside, "cgroup.procs"))
		for _, pid := range out {
			if pp, ok := parentPid(pid); ok && pp != runsc {
				t.Errorf("%s: process %d (parent %d) is outside the function's cgroup", when, pid, pp)
			}
		}
		if len(out) != 2 {
			t.Errorf("%s: %d processes outside the function's cgroup, want the Sentry and the gofer: %v", when, len(out), out)
		}
		if in := readPids(filepath.Join(fn, "cgroup.procs")); len(in) == 0 {
			t.Errorf("%s: no process in the function's cgroup", when)
		}
	}
	check("after LimitCPU")
	wantQuota(t, fn, 10*time.Millisecond)
	wantQuota(t, top, 35*time.Millisecond)

	// A process the function starts now gets a stub of its own, in the cgroup.
	before := len(readPids(filepath.Join(fn, "cgroup.procs")))
	p.Must("sh sleep 3 >/dev/null 2>&1 &")
	if after := len(readPids(filepath.Join(fn, "cgroup.procs"))); after <= before {
		t.Errorf("processes in the function's cgroup: %d before a new process, %d after", before, after)
	}
	check("after a new process")

	// The function's own instructions get the function's share, not the Sentry's.
	usage := func() time.Duration {
		if cgroupV2() {
			return time.Duration(readKey(filepath.Join(fn, "cpu.stat"), "usage_usec")) * time.Microsecond
		}
		return time.Duration(readInt(filepath.Join("/sys/fs/cgroup/cpuacct", parent, b.rid, functionCgroup, "cpuacct.usage")))
	}
	st, _ := p.SB.Stats(ctx)
	u0, t0 := usage(), time.Now()
	p.Must("spin 600 2")
	wall := time.Since(t0)
	st2, _ := p.SB.Stats(ctx)
	used := usage() - u0
	t.Logf("LimitCPU(%.1f): the function's cgroup used %v of CPU in %v, the whole sandbox %v", cpus, used, wall, st2.CPUTime-st.CPUTime)
	if max := time.Duration(float64(wall)*cpus*1.5) + 20*time.Millisecond; used > max {
		t.Errorf("the function's cgroup used %v of CPU in %v with %.1f CPUs (max %v)", used, wall, cpus, max)
	}

	if err := b.LimitCPU(ctx, 0); err != nil {
		t.Fatal(err)
	}
	wantQuota(t, fn, -1)
	wantQuota(t, top, -1)

	if err := p.SB.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if left := sandboxCgroups(parent, b.rid); len(left) > 0 {
		t.Errorf("cgroups left after Kill: %v", left)
	}
}

const parent = "hearth-gvisor-test"

// startLimited starts a probe sandbox and, once its init phase is over (it
// answers), limits it to cpus as the worker does.
func startLimited(t *testing.T, cpus float64) (*sandboxtest.Probe, *box) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	d, err := New(Config{Runsc: runscPath(t), StateDir: stateDir(t), CgroupParent: parent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	p := sandboxtest.StartProbe(t, d, sandboxtest.BuildProbe(t).Spec(t))
	p.Must("echo booted")
	b := p.SB.(*box)
	if err := b.LimitCPU(context.Background(), cpus); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// wantQuota checks a cgroup's CFS quota (q < 0: none).
func wantQuota(t *testing.T, dir string, q time.Duration) {
	t.Helper()
	want := strconv.FormatInt(int64(q/time.Microsecond), 10)
	file := "cpu.cfs_quota_us"
	if cgroupV2() {
		file = "cpu.max"
		if q < 0 {
			want = "max"
		}
	} else if q < 0 {
		want = "-1"
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b))[0]; got != want {
		t.Errorf("%s/%s = %s, want %s (period %v)", dir, file, got, want, sandbox.CPUPeriod)
	}
}

// TestCPUSplitExit: a sandbox whose init exits by itself after the split ends at
// once. (`runsc run` retries removing its cgroup for 5 s while the split's child is
// in the way; the Sentry's watcher removes the child first.)
func TestCPUSplitExit(t *testing.T) {
	p, b := startLimited(t, 0.1)
	t0 := time.Now()
	if err := p.Send("exit 0"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.SB.Done():
		t.Logf("the sandbox ended %v after its init exited", time.Since(t0))
	case <-time.After(4 * time.Second):
		t.Fatalf("the sandbox had not ended %v after its init exited", time.Since(t0))
	}
	if err := p.SB.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := sandboxCgroups(parent, b.rid); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}
