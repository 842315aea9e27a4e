//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// v2Controllers are enabled for the sandboxes' cgroups. Freezing and killing are
// core cgroup v2 files (cgroup.freeze, cgroup.kill) and need no controller.
var v2Controllers = []string{"memory", "cpu", "pids"}

// cgroupV2 is the unified layout: <mount>/<parent>/<id>, controllers enabled in
// cgroup.subtree_control of every directory from the root down to the parent.
type cgroupV2 struct {
	dir string // <mount>/<parent>
	// strict refuses hosts where a controller is missing; only tests turn it off
	// (to exercise freeze/kill/procs on a controller-less cgroup2 mount).
	strict bool
}

func newCgroupV2(mount, parent string, strict bool) (*cgroupV2, error) {
	rel, err := cleanParent(parent)
	if err != nil {
		return nil, err
	}
	s := &cgroupV2{dir: filepath.Join(mount, rel), strict: strict}
	// Walk from the root to the parent, enabling the controllers for the level below.
	dir := mount
	levels := append([]string{""}, strings.Split(rel, "/")...)
	for _, part := range levels {
		if part != "" {
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("namespace: create cgroup parent: %w", err)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("namespace: %w", err)
		}
		have := strings.Fields(string(b))
		for _, c := range v2Controllers {
			if !contains(have, c) {
				if strict {
					return nil, fmt.Errorf("namespace: cgroup v2 controller %q is not available in %s", c, dir)
				}
				continue
			}
			if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+c); err != nil {
				if errors.Is(err, syscall.EBUSY) {
					return nil, fmt.Errorf("namespace: cannot enable %s for children of %s: it holds processes (cgroup v2 allows controllers only on cgroups without processes; pick another CgroupParent): %w", c, dir, err)
				}
				return nil, fmt.Errorf("namespace: %w", err)
			}
		}
	}
	// See parentWeight. Best effort: a delegated hierarchy may keep its own.
	_ = writeFile(filepath.Join(s.dir, "cpu.weight"), strconv.Itoa(parentWeight()))
	return s, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *cgroupV2) version() int    { return 2 }
func (s *cgroupV2) lockDir() string { return s.dir }

func (s *cgroupV2) group(id string) *cgroupV2Group {
	return &cgroupV2Group{id: id, dir: filepath.Join(s.dir, id), strict: s.strict}
}

func (s *cgroupV2) create(id string, l limits) (cgroup, error) {
	g := s.group(id)
	if err := syscall.Mkdir(g.dir, 0o755); err != nil {
		if errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("namespace: cgroup %s already exists: %w", g.dir, errIDInUse)
		}
		return nil, fmt.Errorf("namespace: create cgroup %s: %w", g.dir, err)
	}
	if err := g.apply(l); err != nil {
		syscall.Rmdir(g.dir)
		return nil, err
	}
	return g, nil
}

func (s *cgroupV2) children() ([]cgroup, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []cgroup
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, s.group(e.Name()))
		}
	}
	return out, nil
}

type cgroupV2Group struct {
	id     string
	dir    string
	strict bool

	mu      sync.Mutex
	peak    int64 // tracked when memory.peak does not exist (Linux < 5.19)
	counter counterFiles
}

func (g *cgroupV2Group) name() string { return g.id }

// set writes a control file. optional files may be missing (older kernels); without
// strict (tests only) every controller file may be missing.
// limitCPU sets cpu.max and a burst of one quota (cpu.max.burst, Linux ≥ 5.14).
func (g *cgroupV2Group) limitCPU(quotaUS int64) error {
	// The kernel refuses a burst over the quota: clear it before the quota changes.
	if err := g.set("cpu.max.burst", "0", true); err != nil {
		return err
	}
	if quotaUS <= 0 {
		return g.set("cpu.max", fmt.Sprintf("max %d", cgroupPeriodUS), false)
	}
	if err := g.set("cpu.max", fmt.Sprintf("%d %d", quotaUS, cgroupPeriodUS), false); err != nil {
		return err
	}
	return g.set("cpu.max.burst", strconv.FormatInt(quotaUS, 10), true)
}

func (g *cgroupV2Group) set(file, value string, optional bool) error {
	err := writeFile(filepath.Join(g.dir, file), value)
	if err != nil && errors.Is(err, os.ErrNotExist) && (optional || !g.strict) {
		return nil
	}
	return err
}

func (g *cgroupV2Group) apply(l limits) error {
	if l.MemoryBytes > 0 {
		if err := g.set("memory.max", strconv.FormatInt(l.MemoryBytes, 10), false); err != nil {
			return err
		}
		// No swap; absent when the kernel has no swap accounting.
		if err := g.set("memory.swap.max", "0", true); err != nil {
			return err
		}
	}
	// An OOM kill takes the whole sandbox down, as Lambda does, instead of leaving
	// the init running without the process it supervised. (Linux ≥ 4.19)
	if err := g.set("memory.oom.group", "1", true); err != nil {
		return err
	}
	if l.CPUQuotaUS > 0 {
		if err := g.limitCPU(l.CPUQuotaUS); err != nil {
			return err
		}
	}
	if l.Pids > 0 {
		if err := g.set("pids.max", strconv.Itoa(l.Pids), false); err != nil {
			return err
		}
	}
	return nil
}

func (g *cgroupV2Group) adopt(id string, l limits) error {
	// cgroup v2 has no rename: a warm sandbox keeps its slot's name.
	return g.apply(l)
}

func (g *cgroupV2Group) openForClone() (*os.File, error) {
	return os.OpenFile(g.dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
}

func (g *cgroupV2Group) addProc(pid int) error {
	return writeFile(filepath.Join(g.dir, "cgroup.procs"), strconv.Itoa(pid))
}

func (g *cgroupV2Group) event(key string) int64 {
	n, _ := readKey(filepath.Join(g.dir, "cgroup.events"), key)
	return n
}

func (g *cgroupV2Group) freeze(ctx context.Context) error {
	if err := writeFile(filepath.Join(g.dir, "cgroup.freeze"), "1"); err != nil {
		return err
	}
	err := pollUntil(ctx, freezeTimeout, func() (bool, error) { return g.event("frozen") == 1, nil })
	if err != nil {
		writeFile(filepath.Join(g.dir, "cgroup.freeze"), "0")
		return fmt.Errorf("freeze: %w", err)
	}
	return nil
}

func (g *cgroupV2Group) thaw(ctx context.Context) error {
	if err := writeFile(filepath.Join(g.dir, "cgroup.freeze"), "0"); err != nil {
		return err
	}
	return pollUntil(ctx, freezeTimeout, func() (bool, error) { return g.event("frozen") == 0, nil })
}

func (g *cgroupV2Group) stats() (sandbox.Stats, error) {
	var st sandbox.Stats
	cur, err := g.counter.readInt(filepath.Join(g.dir, "memory.current"))
	if err != nil && (g.strict || !errors.Is(err, os.ErrNotExist)) {
		return st, err
	}
	st.MemoryBytes = cur
	peak, err := g.counter.readInt(filepath.Join(g.dir, "memory.peak"))
	if err != nil {
		g.mu.Lock()
		if cur > g.peak {
			g.peak = cur
		}
		peak = g.peak
		g.mu.Unlock()
	}
	st.MemoryPeakBytes = peak
	usec, ok := g.counter.readKey(filepath.Join(g.dir, "cpu.stat"), "usage_usec")
	if !ok {
		return st, fmt.Errorf("read usage_usec from %s/cpu.stat", g.dir)
	}
	st.CPUTime = time.Duration(usec) * time.Microsecond
	st.OOMKills, _ = g.counter.readKey(filepath.Join(g.dir, "memory.events"), "oom_kill")
	return st, nil
}

func (g *cgroupV2Group) oomKilled() bool {
	path := filepath.Join(g.dir, "memory.events")
	n, _ := readKey(path, "oom_kill")
	m, _ := readKey(path, "oom_group_kill")
	return n > 0 || m > 0
}

func (g *cgroupV2Group) killAll() error {
	if _, err := os.Stat(g.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err := writeFile(filepath.Join(g.dir, "cgroup.kill"), "1") // Linux ≥ 5.14; kills frozen tasks too
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	writeFile(filepath.Join(g.dir, "cgroup.freeze"), "0")
	for _, pid := range readPids(filepath.Join(g.dir, "cgroup.procs")) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

func (g *cgroupV2Group) populated() bool {
	if _, err := os.Stat(g.dir); err != nil {
		return false
	}
	return g.event("populated") == 1
}

func (g *cgroupV2Group) remove(ctx context.Context) error {
	g.counter.close()
	return rmdirRetry(ctx, g.dir)
}
