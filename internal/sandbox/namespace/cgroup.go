//go:build linux

package namespace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// cgroupPeriodUS is the CFS period every sandbox's CPU quota is expressed in; the
// burst is always one quota (sandbox.CPUQuota says why).
const cgroupPeriodUS = int(sandbox.CPUPeriod / time.Microsecond)

// errIDInUse: a cgroup with the sandbox's name exists already.
var errIDInUse = errors.New("sandbox ID in use")

// limits are what a sandbox's cgroup enforces. Zero means unlimited.
type limits struct {
	MemoryBytes int64
	CPUQuotaUS  int64 // per cgroupPeriodUS
	Pids        int
}

func limitsOf(spec sandbox.Spec) limits {
	l := limits{MemoryBytes: int64(spec.MemoryMB) << 20, Pids: spec.Pids}
	l.CPUQuotaUS = cpuQuota(spec.CPUs)
	return l
}

// cpuQuota converts CPUs to a CFS quota per cgroupPeriodUS; 0 stays unlimited.
func cpuQuota(cpus float64) int64 {
	q, _ := sandbox.CPUQuota(cpus)
	return int64(q / time.Microsecond)
}

// cgroupSystem is one cgroup layout (v1 per-controller hierarchies or the v2 unified
// hierarchy) with a parent directory under which every sandbox gets a child.
type cgroupSystem interface {
	version() int
	// lockDir is the directory the driver flocks to own the parent.
	lockDir() string
	// create makes the child cgroup for id and applies l.
	create(id string, l limits) (cgroup, error)
	// children lists the child cgroups that exist under the parent.
	children() ([]cgroup, error)
}

// cgroup is one sandbox's cgroup (one directory per hierarchy on v1).
type cgroup interface {
	name() string
	// adopt turns a warm slot's cgroup into sandbox id's: renamed to id where the
	// hierarchy allows it (v1; v2 cannot rename, the slot name stays), limits
	// applied, usage counters reset.
	adopt(id string, l limits) error
	// openForClone opens the directory for clone3's CLONE_INTO_CGROUP (v2), which
	// starts a process inside the cgroup instead of migrating it there; nil on v1.
	openForClone() (*os.File, error)
	// addProc migrates a process (and its threads) into the cgroup.
	addProc(pid int) error
	// freeze stops every task and returns once they are all stopped.
	freeze(ctx context.Context) error
	thaw(ctx context.Context) error
	stats() (sandbox.Stats, error)
	// limitCPU changes the CFS quota of a running sandbox (0: unlimited).
	limitCPU(quotaUS int64) error
	// oomKilled says whether the kernel's OOM killer killed a task of this cgroup.
	oomKilled() bool
	// killAll sends SIGKILL to every task (thawing first where a frozen task could
	// not die).
	killAll() error
	// populated says whether any task is still in the cgroup.
	populated() bool
	// remove deletes the directories; it retries while tasks are still leaving.
	remove(ctx context.Context) error
}

// detectCgroups picks the layout this host uses: v1 when the memory controller is
// mounted as a v1 hierarchy (hybrid hosts included), otherwise v2.
func detectCgroups(parent string) (cgroupSystem, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	if _, ok := mounts.v1["memory"]; ok {
		return newCgroupV1(mounts.v1, parent)
	}
	if mounts.v2 != "" {
		return newCgroupV2(mounts.v2, parent, true)
	}
	return nil, errors.New("namespace: no usable cgroup hierarchy (neither a v1 memory controller nor cgroup2 is mounted)")
}

type cgroupMountTable struct {
	v1 map[string]string // controller → mount point
	v2 string            // cgroup2 mount point
}

// cgroupMounts reads /proc/self/mountinfo for cgroup and cgroup2 mounts.
func cgroupMounts() (cgroupMountTable, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return cgroupMountTable{}, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

func parseMountinfo(r io.Reader) (cgroupMountTable, error) {
	t := cgroupMountTable{v1: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+3 >= len(fields) {
			continue
		}
		mountPoint, fstype, superOpts := unescapeMountinfo(fields[4]), fields[sep+1], fields[sep+3]
		switch fstype {
		case "cgroup2":
			if t.v2 == "" || mountPoint == "/sys/fs/cgroup" {
				t.v2 = mountPoint
			}
		case "cgroup":
			for _, opt := range strings.Split(superOpts, ",") {
				switch opt {
				case "memory", "cpu", "cpuacct", "pids", "freezer":
					if _, seen := t.v1[opt]; !seen {
						t.v1[opt] = mountPoint
					}
				}
			}
		}
	}
	return t, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for space…) of mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cleanParent turns CgroupParent into a relative path below a hierarchy's root.
func cleanParent(parent string) (string, error) {
	p := filepath.Clean("/" + parent)
	if p == "/" {
		return "", errors.New("namespace: CgroupParent must not be the hierarchy root")
	}
	return p[1:], nil
}

// writeFile writes a cgroup control file (no O_CREAT, no O_TRUNC: kernfs files).
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseInt(b)
}

func parseInt(b []byte) (int64, error) {
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// readKey reads "key value" lines (memory.events, cpu.stat, memory.oom_control).
func readKey(path, key string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	return parseKey(b, key)
}

func parseKey(b []byte, key string) (int64, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// counterFiles keeps a group's counter files open, so that reading them after every
// invocation (for the REPORT line's Max Memory Used) is one pread each rather than
// open, fstat, read and close: profiled at 1,000 invokes/s, os.ReadFile on these
// files was a quarter of the server's CPU. A pread at offset 0 makes the kernel
// render the file afresh, so the value is current.
type counterFiles struct {
	mu     sync.Mutex
	files  map[string]*os.File
	closed bool
}

// read fills buf with the current contents of the counter file at path (cpu.stat,
// the longest, is a few hundred bytes).
func (c *counterFiles) read(path string, buf []byte) ([]byte, error) {
	c.mu.Lock()
	f := c.files[path]
	if f == nil {
		if c.closed {
			c.mu.Unlock()
			return nil, os.ErrClosed
		}
		var err error
		if f, err = os.Open(path); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		if c.files == nil {
			c.files = map[string]*os.File{}
		}
		c.files[path] = f
	}
	c.mu.Unlock()
	// The file stays open until close, which waits for c.mu: a read that got f
	// before close may see os.ErrClosed, never another file.
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

func (c *counterFiles) readInt(path string) (int64, error) {
	var buf [64]byte // on the stack: this runs after every invocation
	b, err := c.read(path, buf[:])
	if err != nil {
		return 0, err
	}
	return parseInt(b)
}

func (c *counterFiles) readKey(path, key string) (int64, bool) {
	var buf [1024]byte
	b, err := c.read(path, buf[:])
	if err != nil {
		return 0, false
	}
	return parseKey(b, key)
}

// close closes the files; a cgroup directory is removed after, never with them open.
func (c *counterFiles) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.files {
		f.Close()
	}
	c.files, c.closed = nil, true
}

// readPids reads a cgroup.procs file.
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

// rmdirRetry removes a cgroup directory, retrying while it is busy (tasks that were
// killed may take a moment to leave). A missing directory is not an error.
func rmdirRetry(ctx context.Context, dir string) error {
	delay := 100 * time.Microsecond
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove cgroup %s: %w", dir, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

// pollUntil calls cond until it is true, ctx ends or timeout passes. It spins briefly
// before sleeping, because freezing an idle sandbox usually completes at once.
func pollUntil(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	delay := 50 * time.Microsecond
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", timeout)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(delay)
		if delay < 5*time.Millisecond {
			delay *= 2
		}
	}
}

// freezeTimeout bounds how long Freeze waits for every task to stop.
const freezeTimeout = 2 * time.Second

// parentWeight is the CPU weight (cgroup v2 scale, default 100) of the parent of
// every sandbox. All sandboxes share it: at the default they weighed together as
// much as one busy host process, so while the server, a test binary or a compiler ran
// beside them, ten starting envs shared a fraction of a core. Ten parallel cold
// starts took 2.1-2.3 s at the default against 1.55 s at 8 CPUs' worth of weight
// (cgroup v1, 2 cores). Each sandbox's own quota still bounds it once its init is done.
func parentWeight() int {
	return min(800*runtime.NumCPU(), 10000)
}
