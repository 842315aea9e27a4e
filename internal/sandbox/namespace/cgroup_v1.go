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
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// v1Controllers are the v1 hierarchies a sandbox joins.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "freezer"}

// cgroupV1 is the legacy layout: one hierarchy per controller (cpu and cpuacct are
// often mounted together), each with <mount>/<parent>/<id>.
type cgroupV1 struct {
	parent  map[string]string // controller → <mount>/<parent>
	uniques []string          // distinct parent directories (joined hierarchies once)
}

func newCgroupV1(mounts map[string]string, parent string) (*cgroupV1, error) {
	rel, err := cleanParent(parent)
	if err != nil {
		return nil, err
	}
	s := &cgroupV1{parent: map[string]string{}}
	seen := map[string]bool{}
	for _, c := range v1Controllers {
		mp, ok := mounts[c]
		if !ok {
			return nil, fmt.Errorf("namespace: cgroup v1 controller %q is not mounted", c)
		}
		dir := filepath.Join(mp, rel)
		s.parent[c] = dir
		if !seen[dir] {
			seen[dir] = true
			s.uniques = append(s.uniques, dir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("namespace: create cgroup parent: %w", err)
			}
		}
	}
	// See parentWeight. Best effort: a read-only or delegated hierarchy keeps its own.
	_ = writeFile(filepath.Join(s.parent["cpu"], "cpu.shares"), strconv.Itoa(parentWeight()*1024/100))
	return s, nil
}

func (s *cgroupV1) version() int    { return 1 }
func (s *cgroupV1) lockDir() string { return s.parent["memory"] }

func (s *cgroupV1) group(id string) *cgroupV1Group {
	g := &cgroupV1Group{id: id, dir: map[string]string{}}
	for _, c := range v1Controllers {
		g.dir[c] = filepath.Join(s.parent[c], id)
	}
	for _, u := range s.uniques {
		g.uniques = append(g.uniques, filepath.Join(u, id))
	}
	return g
}

func (s *cgroupV1) create(id string, l limits) (cgroup, error) {
	g := s.group(id)
	for i, d := range g.uniques {
		if err := syscall.Mkdir(d, 0o755); err != nil {
			for _, made := range g.uniques[:i] {
				syscall.Rmdir(made)
			}
			if errors.Is(err, syscall.EEXIST) {
				return nil, fmt.Errorf("namespace: cgroup %s already exists: %w", d, errIDInUse)
			}
			return nil, fmt.Errorf("namespace: create cgroup %s: %w", d, err)
		}
	}
	if err := g.apply(l); err != nil {
		g.remove(context.Background())
		return nil, err
	}
	return g, nil
}

func (s *cgroupV1) children() ([]cgroup, error) {
	names := map[string]bool{}
	for _, u := range s.uniques {
		ents, err := os.ReadDir(u)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() {
				names[e.Name()] = true
			}
		}
	}
	var out []cgroup
	for n := range names {
		out = append(out, s.group(n))
	}
	return out, nil
}

type cgroupV1Group struct {
	id      string
	dir     map[string]string // controller → directory
	uniques []string
	counter counterFiles
}

func (g *cgroupV1Group) name() string { return g.id }

// limitCPU sets the CFS period, the quota and a burst of one quota (Linux ≥ 5.14;
// older kernels have no burst file and get none).
func (g *cgroupV1Group) limitCPU(quotaUS int64) error {
	dir := g.dir["cpu"]
	// The kernel refuses a burst over the quota: clear it before the quota changes.
	if err := writeFile(filepath.Join(dir, "cpu.cfs_burst_us"), "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := writeFile(filepath.Join(dir, "cpu.cfs_period_us"), strconv.Itoa(cgroupPeriodUS)); err != nil {
		return err
	}
	q := int64(-1)
	if quotaUS > 0 {
		q = quotaUS
	}
	if err := writeFile(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(q, 10)); err != nil {
		return err
	}
	if quotaUS > 0 {
		if err := writeFile(filepath.Join(dir, "cpu.cfs_burst_us"), strconv.FormatInt(quotaUS, 10)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (g *cgroupV1Group) apply(l limits) error {
	if l.MemoryBytes > 0 {
		v := strconv.FormatInt(l.MemoryBytes, 10)
		if err := writeFile(filepath.Join(g.dir["memory"], "memory.limit_in_bytes"), v); err != nil {
			return err
		}
		// memory+swap = memory: no swap. Absent when swap accounting is off.
		if err := writeFile(filepath.Join(g.dir["memory"], "memory.memsw.limit_in_bytes"), v); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if l.CPUQuotaUS > 0 {
		if err := g.limitCPU(l.CPUQuotaUS); err != nil {
			return err
		}
	}
	if l.Pids > 0 {
		if err := writeFile(filepath.Join(g.dir["pids"], "pids.max"), strconv.Itoa(l.Pids)); err != nil {
			return err
		}
	}
	return nil
}

func (g *cgroupV1Group) adopt(id string, l limits) error {
	if id != g.id {
		var done []string
		for _, d := range g.uniques {
			to := filepath.Join(filepath.Dir(d), id)
			if err := os.Rename(d, to); err != nil {
				for _, back := range done {
					os.Rename(filepath.Join(filepath.Dir(back), id), back)
				}
				if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
					return fmt.Errorf("namespace: cgroup %s already exists: %w", to, errIDInUse)
				}
				return fmt.Errorf("namespace: rename cgroup: %w", err)
			}
			done = append(done, d)
		}
		g.id = id
		for c, d := range g.dir {
			g.dir[c] = filepath.Join(filepath.Dir(d), id)
		}
		for i, d := range g.uniques {
			g.uniques[i] = filepath.Join(filepath.Dir(d), id)
		}
	}
	if err := g.apply(l); err != nil {
		return err
	}
	// What the warm process used while waiting is not the sandbox's.
	writeFile(filepath.Join(g.dir["memory"], "memory.max_usage_in_bytes"), "0")
	writeFile(filepath.Join(g.dir["cpuacct"], "cpuacct.usage"), "0")
	return nil
}

func (g *cgroupV1Group) openForClone() (*os.File, error) { return nil, nil }

func (g *cgroupV1Group) addProc(pid int) error {
	p := strconv.Itoa(pid)
	for _, d := range g.uniques {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), p); err != nil {
			return err
		}
	}
	return nil
}

func (g *cgroupV1Group) freezerState() (string, error) {
	b, err := os.ReadFile(filepath.Join(g.dir["freezer"], "freezer.state"))
	return strings.TrimSpace(string(b)), err
}

func (g *cgroupV1Group) freeze(ctx context.Context) error {
	if err := writeFile(filepath.Join(g.dir["freezer"], "freezer.state"), "FROZEN"); err != nil {
		return err
	}
	err := pollUntil(ctx, freezeTimeout, func() (bool, error) {
		s, err := g.freezerState()
		return s == "FROZEN", err
	})
	if err != nil {
		// Do not leave it half frozen.
		writeFile(filepath.Join(g.dir["freezer"], "freezer.state"), "THAWED")
		return fmt.Errorf("freeze: %w", err)
	}
	return nil
}

func (g *cgroupV1Group) thaw(ctx context.Context) error {
	if err := writeFile(filepath.Join(g.dir["freezer"], "freezer.state"), "THAWED"); err != nil {
		return err
	}
	return pollUntil(ctx, freezeTimeout, func() (bool, error) {
		s, err := g.freezerState()
		return s == "THAWED", err
	})
}

func (g *cgroupV1Group) stats() (sandbox.Stats, error) {
	var st sandbox.Stats
	var err error
	if st.MemoryPeakBytes, err = g.counter.readInt(filepath.Join(g.dir["memory"], "memory.max_usage_in_bytes")); err != nil {
		return st, err
	}
	if st.MemoryBytes, err = g.counter.readInt(filepath.Join(g.dir["memory"], "memory.usage_in_bytes")); err != nil {
		return st, err
	}
	ns, err := g.counter.readInt(filepath.Join(g.dir["cpuacct"], "cpuacct.usage"))
	if err != nil {
		return st, err
	}
	st.CPUTime = time.Duration(ns)
	st.OOMKills, _ = g.counter.readKey(filepath.Join(g.dir["memory"], "memory.oom_control"), "oom_kill") // Linux ≥ 4.13
	return st, nil
}

func (g *cgroupV1Group) oomKilled() bool {
	path := filepath.Join(g.dir["memory"], "memory.oom_control")
	if n, ok := readKey(path, "oom_kill"); ok { // Linux ≥ 4.13
		return n > 0
	}
	n, _ := readKey(path, "under_oom")
	return n > 0
}

func (g *cgroupV1Group) killAll() error {
	// A task frozen by the v1 freezer does not act on SIGKILL until thawed.
	writeFile(filepath.Join(g.dir["freezer"], "freezer.state"), "THAWED")
	var firstErr error
	for _, d := range g.uniques {
		for _, pid := range readPids(filepath.Join(d, "cgroup.procs")) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

func (g *cgroupV1Group) populated() bool {
	for _, d := range g.uniques {
		if len(readPids(filepath.Join(d, "cgroup.procs"))) > 0 {
			return true
		}
	}
	return false
}

func (g *cgroupV1Group) remove(ctx context.Context) error {
	g.counter.close()
	var errs []error
	for _, d := range g.uniques {
		if err := rmdirRetry(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
