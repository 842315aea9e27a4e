//go:build linux

package namespace

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/sandbox/sandboxtest"
)

// The driver re-executes Config.Exe with SetupArg: here that is this test binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == SetupArg {
		SetupMain()
		return
	}
	code := m.Run()
	if shared != nil {
		// Leave the host as found: the test parent goes once its children are gone.
		shared.Close()
		removeParent(shared.cg, testCgroupParent)
		os.RemoveAll(shared.stateDir)
	}
	os.Exit(code)
}

// testCgroupParent keeps test sandboxes apart from a real hearth's.
const testCgroupParent = "hearth-test"

var (
	shared    *Driver
	sharedErr error
	once      sync.Once
)

// testDriver returns the one driver of this test process (New cleans up leftovers
// of the parent, so the tests share one) or skips when the host cannot run it.
func testDriver(t testing.TB) *Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the namespace driver needs root (namespaces, cgroups, mounts); run the tests as root")
	}
	once.Do(func() {
		dir, err := os.MkdirTemp("", "hearth-namespace-test-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = New(Config{StateDir: dir, CgroupParent: testCgroupParent, Exe: os.Args[0]})
	})
	if sharedErr != nil {
		if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
			t.Skipf("no cgroup filesystem: %v", sharedErr)
		}
		t.Fatalf("New: %v", sharedErr)
	}
	return shared
}

func TestConformance(t *testing.T) {
	testDriver(t) // skips here, before the suite builds its probe, when not root
	sandboxtest.Run(t, func(t *testing.T) sandbox.Driver { return testDriver(t) }, sandboxtest.InitProgram{})
}

func BenchmarkStart(b *testing.B) {
	sandboxtest.BenchmarkStart(b, testDriver(b), sandboxtest.InitProgram{})
}

// TestKillReleasesCgroups checks what the suite cannot see: Kill removes the
// sandbox's cgroup directories.
func TestKillReleasesCgroups(t *testing.T) {
	d := testDriver(t)
	probe := sandboxtest.BuildProbe(t)
	p := sandboxtest.StartProbe(t, d, probe.Spec(t))
	p.Must("echo hi")
	dirs := cgroupDirs(d, p.Spec.ID)
	if len(dirs) == 0 {
		t.Fatal("no cgroup directories found for the sandbox")
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("cgroup %s: %v", dir, err)
		}
	}
	if err := p.SB.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cgroup %s still exists after Kill (%v)", dir, err)
		}
	}
}

func cgroupDirs(d *Driver, id string) []string {
	switch cg := d.cg.(type) {
	case *cgroupV1:
		return cg.group(id).uniques
	case *cgroupV2:
		return []string{filepath.Join(cg.dir, id)}
	}
	return nil
}

// TestDriverOnCgroupV2 runs sandboxes with the cgroup v2 implementation. On a
// hybrid host (controllers bound to v1, as on this CI machine) the cgroup2 mount
// has no memory/cpu/pids controllers, so limits are skipped; what is checked is
// the v2 path itself: cloning straight into the cgroup (CLONE_INTO_CGROUP), warm
// and cold, freeze/thaw through cgroup.freeze, CPU from cpu.stat, cgroup.kill and
// removal. On a pure v2 host TestConformance runs everything on v2.
func TestDriverOnCgroupV2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	mounts, err := cgroupMounts()
	if err != nil || mounts.v2 == "" {
		t.Skip("no cgroup2 mount")
	}
	if len(mounts.v1) == 0 {
		t.Skip("pure cgroup v2 host: TestConformance covers v2")
	}
	parent := "hearth-test-v2drv-" + strconv.Itoa(os.Getpid())
	sys, err := newCgroupV2(mounts.v2, parent, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sys.dir) })
	newV2Driver := func(warm int) *Driver {
		state := t.TempDir()
		root := filepath.Join(state, "root")
		os.Mkdir(root, 0o755)
		d, err := newDriver(Config{StateDir: state, Warm: warm}, os.Args[0], root, sys)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	warm, cold := newV2Driver(1), newV2Driver(-1)
	probe := sandboxtest.BuildProbe(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		warm.warm.mu.Lock()
		n := len(warm.warm.idle)
		warm.warm.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx := context.Background()
	probes := []*sandboxtest.Probe{sandboxtest.StartProbe(t, warm, probe.Spec(t)), sandboxtest.StartProbe(t, cold, probe.Spec(t))}
	for i, kind := range []string{"warm", "cold"} {
		p, spec := probes[i], probes[i].Spec
		sp := p.SB.(*sandboxProc)
		if got := p.Must("echo " + kind); got != kind {
			t.Fatalf("%s: echo = %q", kind, got)
		}
		name := sp.cg.name()
		if (i == 0) != strings.HasPrefix(name, "warm-") || (i == 1 && name != spec.ID) {
			t.Errorf("%s sandbox has cgroup %q", kind, name)
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", sp.cmd.Process.Pid))
		if want := "0::/" + parent + "/" + name + "\n"; !strings.Contains(string(b), want) {
			t.Errorf("%s: init's /proc/PID/cgroup:\n%s\nwant a line %q", kind, b, want)
		}
		if err := p.SB.Freeze(ctx); err != nil {
			t.Fatal(err)
		}
		p.Send("echo thawed")
		if got, err := p.Answer(200 * time.Millisecond); err == nil {
			t.Errorf("%s: answered %q while frozen", kind, got)
		}
		if err := p.SB.Thaw(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := p.Answer(5 * time.Second); err != nil || got != "thawed" {
			t.Errorf("%s: after Thaw: %q %v", kind, got, err)
		}
		if st, err := p.SB.Stats(ctx); err != nil || st.CPUTime <= 0 {
			t.Errorf("%s: Stats = %+v, %v", kind, st, err)
		}
		if err := p.SB.Freeze(ctx); err != nil { // Kill must work on a frozen sandbox
			t.Fatal(err)
		}
		if err := p.SB.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(sys.dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s: cgroup %s still there after Kill", kind, name)
		}
	}
}

// TestDuplicateID: a second sandbox with a live one's ID is refused, warm or cold,
// and the first is unharmed.
func TestDuplicateID(t *testing.T) {
	d := testDriver(t)
	probe := sandboxtest.BuildProbe(t)
	spec := probe.Spec(t)
	p := sandboxtest.StartProbe(t, d, spec)
	for i := 0; i < 3; i++ {
		if _, err := sandboxtest.TryStartProbe(t, d, spec); err == nil {
			t.Fatal("a second sandbox with the same ID started")
		}
	}
	if got := p.Must("echo still mine"); got != "still mine" {
		t.Errorf("echo = %q", got)
	}
}

// TestUserNamespace: the sandbox has its own user namespace, root maps to root and
// the function's uid to one far from the host's users, and the bound device nodes
// work.
func TestUserNamespace(t *testing.T) {
	d := testDriver(t)
	probe := sandboxtest.BuildProbe(t)
	p := sandboxtest.StartProbe(t, d, probe.Spec(t))
	if !d.UserNamespaces() {
		t.Skip("this host refuses user namespaces")
	}
	want := fmt.Sprintf("0 0 1\n1 %d 65535\n", idBase+1)
	got, err := strconv.Unquote(p.Must("read /proc/self/uid_map"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("uid_map inside = %q, want %q", got, want)
	}
	var st syscall.Stat_t
	hostUID := -1
	if pids := readPids(filepath.Join(cgroupDirs(d, p.Spec.ID)[0], "cgroup.procs")); len(pids) > 0 && syscall.Stat(fmt.Sprintf("/proc/%d", pids[0]), &st) == nil {
		hostUID = int(st.Uid)
	}
	if hostUID != 0 {
		t.Errorf("the sandbox's init (its root) is host uid %d, want 0", hostUID)
	}
	// The function's uid is far from the host's: a file it creates on a host
	// directory belongs to idBase+UID there.
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	spec := probe.Spec(t)
	spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: dir, Target: "/opt/data"})
	fp := sandboxtest.StartProbe(t, d, spec)
	fp.Must(fmt.Sprintf("asuser %d %d write /opt/data/f", sandboxtest.UID, sandboxtest.GID))
	if err := syscall.Stat(filepath.Join(dir, "f"), &st); err != nil || int(st.Uid) != idBase+sandboxtest.UID {
		t.Errorf("a file the function wrote belongs to host uid %d (%v), want %d", st.Uid, err, idBase+sandboxtest.UID)
	}
	p.Must("write /dev/null")
	if got := p.Must("read /dev/zero"); got == "" {
		t.Errorf("read /dev/zero = %q", got)
	}
}
