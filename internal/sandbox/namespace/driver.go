//go:build linux

package namespace

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/sandbox/watchdog"
)

// Config configures a Driver.
type Config struct {
	// StateDir is the driver's scratch directory; each sandbox mounts its private
	// root on StateDir/root inside its own mount namespace. Default:
	// $TMPDIR/hearth-namespace.
	StateDir string
	// CgroupParent is the cgroup, relative to the root of each hierarchy, under
	// which every sandbox gets <CgroupParent>/<Spec.ID>. Default
	// "hearth-<hash of StateDir>": one per state directory, so that the watchdog of
	// a server that died can remove every sandbox under it without waiting for the
	// other servers of the host (watchdog.go). The driver owns it: children left
	// behind by a crashed process are killed and removed by its watchdog, or by New
	// (unless another live driver uses the same parent).
	CgroupParent string
	// Warm is how many setup processes the driver keeps started ahead of Start
	// (each an idle process of Exe: ~4 MB of memory for hearth, ~0.5 MB for
	// hearth-init). A burst of more cold Starts than this forks the rest from this
	// process one at a time (onSpawnerThread). 0 means 2; negative means none.
	Warm int
	// Exe is the binary the driver re-executes with SetupArg to set up the sandbox
	// from inside its namespaces; its main must call SetupMain when os.Args[1] is
	// SetupArg. Default: the running executable.
	Exe string
	// Logger, when set, hears of what weakens isolation, such as a host that
	// refuses user namespaces.
	Logger *slog.Logger
	// Network, when set, links every sandbox's network namespace to the host
	// (eth0, an address, the firewall's rules) as its setup process starts — for a
	// warm process, ahead of Start. Nil: loopback only.
	Network sandbox.Network
}

// Driver starts sandboxes made of Linux namespaces, cgroups, dropped privileges and
// a seccomp filter.
type Driver struct {
	exe      string
	stateDir string
	root     string
	cg       cgroupSystem
	lock     *os.File // flock on the cgroup parent: shared while in use
	dog      *watchdog.Process
	warm     *warmPool
	noUserns atomic.Bool // the host refused a user namespace once; none are tried again
	log      *slog.Logger
	net      sandbox.Network // nil: loopback only
}

// idMap is the sandboxes' user (and group) namespace mapping. Root inside is root
// outside, so the setup process can bind-mount from a data directory only root may
// enter; it has capabilities only over its own namespaces, never the host's. Every
// other ID inside, the function's 993 among them, is idBase+ID outside: a function
// that got out of its namespaces would be a user the host has never heard of, owning
// nothing.
var idMap = []syscall.SysProcIDMap{
	{ContainerID: 0, HostID: 0, Size: 1},
	{ContainerID: 1, HostID: idBase + 1, Size: 65535},
}

// idBase is far above the IDs of real users and of systemd's dynamic ranges.
const idBase = 0x5ead0000

// UserNamespaces reports whether sandboxes get a user namespace: false once the
// host has refused one.
func (d *Driver) UserNamespaces() bool { return !d.noUserns.Load() }

var _ sandbox.Driver = (*Driver)(nil)

// New checks the host (root, cgroups), prepares the cgroup parent, removes
// sandboxes a previous process left behind and starts the driver's watchdog, which
// kills and removes the sandboxes if this process dies without Close.
func New(cfg Config) (*Driver, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("namespace: the namespace driver must run as root (it creates namespaces, cgroups and mounts)")
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("namespace: find own executable: %w", err)
		}
		cfg.Exe = exe
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(os.TempDir(), "hearth-namespace")
	}
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if cfg.CgroupParent == "" {
		sum := sha256.Sum256([]byte(stateDir))
		cfg.CgroupParent = "hearth-" + hex.EncodeToString(sum[:8])
	}
	exe, err := filepath.Abs(cfg.Exe)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(cfg.StateDir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("namespace: state directory: %w", err)
	}
	// A watchdog or a closing driver may remove the parent between its creation
	// here and our lock on it; then create it again.
	for attempt := 0; ; attempt++ {
		cg, err := detectCgroups(cfg.CgroupParent)
		if err != nil {
			return nil, err
		}
		d, err := newDriver(cfg, exe, root, cg)
		if errors.Is(err, errParentGone) && attempt < 3 {
			continue
		}
		return d, err
	}
}

func newDriver(cfg Config, exe, root string, cg cgroupSystem) (*Driver, error) {
	d := &Driver{exe: exe, stateDir: cfg.StateDir, root: root, cg: cg, log: cfg.Logger, net: cfg.Network}
	if err := d.lockAndClean(); err != nil {
		return nil, err
	}
	if err := d.startWatchdog(); err != nil {
		d.lock.Close()
		return nil, err
	}
	warm := cfg.Warm
	if warm == 0 {
		warm = 2
	}
	d.warm = &warmPool{size: warm, spawn: d.spawnWarm}
	d.warm.refillNow()
	return d, nil
}

// lockAndClean takes the parent's flock. Only a driver that gets it exclusively
// (no other live driver uses this parent) removes leftovers; every live driver then
// holds it shared.
func (d *Driver) lockAndClean() error {
	f, err := os.Open(d.cg.lockDir())
	if errors.Is(err, os.ErrNotExist) {
		return errParentGone
	}
	if err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		if !parentsIntact(d.cg, f) {
			f.Close()
			return errParentGone
		}
		cleanErr := d.removeLeftovers()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
			f.Close()
			return fmt.Errorf("namespace: lock cgroup parent: %w", err)
		}
		if cleanErr != nil {
			f.Close()
			return cleanErr
		}
	} else if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return fmt.Errorf("namespace: lock cgroup parent: %w", err)
	}
	// The holder we waited for, or one that slipped in while our exclusive lock
	// became a shared one (flock converts by releasing first), may have been a dead
	// server's watchdog, which removes the parent.
	if !parentsIntact(d.cg, f) {
		f.Close()
		return errParentGone
	}
	d.lock = f
	return nil
}

func (d *Driver) removeLeftovers() error {
	left, err := d.cg.children()
	if err != nil {
		return fmt.Errorf("namespace: list leftover sandboxes: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, g := range left {
		g.killAll()
		pollUntil(ctx, 5*time.Second, func() (bool, error) {
			if g.populated() {
				g.killAll()
				return false, nil
			}
			return true, nil
		})
		if err := g.remove(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("namespace: remove leftover sandboxes: %w", err)
	}
	return nil
}

// Close stops the warm setup processes and the watchdog and releases the driver's
// hold on the cgroup parent, removing it if no other driver uses it. It does not
// stop sandboxes; Kill them first.
func (d *Driver) Close() error {
	d.warm.close()
	var err error
	if d.dog != nil {
		err = d.dog.Stop()
		d.dog = nil
	}
	if d.lock == nil {
		return err
	}
	if unix.Flock(int(d.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		rmdirParents(d.cg) // fails, harmlessly, while a sandbox's cgroup is left
	}
	err = errors.Join(err, d.lock.Close())
	d.lock = nil
	return err
}

func (d *Driver) Name() string { return "namespace" }

func (d *Driver) Capabilities() sandbox.Capabilities {
	return sandbox.Capabilities{Freeze: true, CPULimit: true}
}

// validID: 1-64 of [a-zA-Z0-9_-]. (No regexp: this binary is also the setup
// process, and every package-level initialisation is paid on each cold start.)
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validate(spec *sandbox.Spec) error {
	if !validID(spec.ID) {
		return fmt.Errorf("namespace: sandbox ID %q: want 1-64 of [a-zA-Z0-9_-]", spec.ID)
	}
	if !path.IsAbs(spec.Init) {
		return fmt.Errorf("namespace: Init %q is not an absolute path", spec.Init)
	}
	if spec.UID <= 0 || spec.GID <= 0 {
		return fmt.Errorf("namespace: UID %d / GID %d: the function never runs as root", spec.UID, spec.GID)
	}
	if spec.MemoryMB < 0 || spec.TmpMB < 0 || spec.Pids < 0 || spec.NoFile < 0 || spec.CPUs < 0 {
		return errors.New("namespace: negative limit")
	}
	for _, m := range spec.Mounts {
		if !path.IsAbs(m.Target) || path.Clean(m.Target) != m.Target || m.Target == "/" {
			return fmt.Errorf("namespace: mount target %q: want a clean absolute path below /", m.Target)
		}
		switch m.Target {
		case "/proc", "/dev", "/tmp":
			return fmt.Errorf("namespace: mount target %q is reserved", m.Target)
		}
		if !filepath.IsAbs(m.Source) {
			return fmt.Errorf("namespace: mount source %q is not absolute", m.Source)
		}
	}
	return nil
}

// Start implements sandbox.Driver. The sequence, with the child's part in setup.go:
//
//	parent                                     setup process (Exe SetupArg)
//	clone into new PID, net, IPC, UTS ns  ───▶ Go runtime starts; lo up;
//	  (v2: and into its cgroup)                blocks reading its config
//	send config ─────────────────────────────▶ new mount ns: root, mounts, hostname
//	(v1: move it into its cgroup)
//	send "go" ───────────────────────────────▶ cgroup ns, rlimits, drop privileges, seccomp
//	read status until EOF ◀────────────────── execve(Init) closes the status pipe
//
// A warm process (Config.Warm) got through the first step, cgroup included, before
// Start; then Start only renames its cgroup to the sandbox's ID (v1) and sets the
// limits, and sends config and "go" at once. Nothing untrusted runs before the
// process is in its cgroup. Moving a process between cgroups waits for an RCU
// grace period (often 5-15 ms after a quiet spell): that is why warm processes are
// placed ahead of time, v2 clones straight into the cgroup, and a cold v1 Start
// overlaps the move with the child building its root.
func (d *Driver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := validate(&spec); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cc := childConfig{
		Root:     d.root,
		Hostname: spec.ID,
		TmpMB:    spec.TmpMB,
		NoFile:   spec.NoFile,
		UID:      spec.UID,
		GID:      spec.GID,
		Init:     spec.Init,
		Args:     spec.Args,
		Env:      spec.Env,
	}
	if cc.TmpMB == 0 {
		cc.TmpMB = 512
	}
	if cc.NoFile == 0 {
		cc.NoFile = 1024
	}
	if len(cc.Args) == 0 {
		cc.Args = []string{spec.Init}
	}
	// The host's base directories (sandbox.HostBase) are mounted by the setup
	// process before its config arrives; the config carries the spec's own.
	for _, m := range spec.Mounts {
		cc.Mounts = append(cc.Mounts, childMount{Mount: m})
	}
	if d.net != nil && d.net.ResolvConf() != "" {
		cc.Mounts = append(cc.Mounts, childMount{Mount: sandbox.Mount{Source: d.net.ResolvConf(), Target: "/etc/resolv.conf", ReadOnly: true}})
	}
	payload := cc.marshal()
	msg := make([]byte, 4+len(payload)+1)
	binary.BigEndian.PutUint32(msg, uint32(len(payload)))
	copy(msg[4:], payload)
	msg[len(msg)-1] = goByte
	config, release := msg[:len(msg)-1], msg[len(msg)-1:]
	lim := limitsOf(spec)

	// A warm setup process if there is one. One that died meanwhile fails the
	// config write; then start afresh.
	defer d.warm.refill()
	var p *setupProc
	if w := d.warm.take(); w != nil {
		if err := w.cg.adopt(spec.ID, lim); err != nil {
			w.abort()
			if errors.Is(err, errIDInUse) {
				return nil, err
			}
		} else if _, err := w.cfgW.Write(msg); err != nil { // in its cgroup already: config and "go" at once
			w.abort()
		} else {
			p = w
		}
	}
	if p == nil {
		cg, err := d.cg.create(spec.ID, lim)
		if err != nil {
			return nil, err
		}
		if p, err = d.spawn(cg); err != nil {
			cg.remove(context.Background())
			return nil, err
		}
		// The child builds its root while it is moved into its cgroup (v1); it
		// goes on only once it is there.
		if _, err := p.cfgW.Write(config); err != nil {
			p.abort()
			return nil, fmt.Errorf("namespace: send config: %w", err)
		}
		if !p.inCgroup {
			if err := cg.addProc(p.cmd.Process.Pid); err != nil {
				p.abort()
				return nil, fmt.Errorf("namespace: join cgroup: %w", err)
			}
		}
		if _, err := p.cfgW.Write(release); err != nil {
			p.abort()
			return nil, fmt.Errorf("namespace: release setup process: %w", err)
		}
	}

	// The status pipe closes on execve (close-on-exec); before that the child writes
	// why setup failed.
	stop := context.AfterFunc(ctx, func() { p.statusR.SetReadDeadline(time.Now()) })
	status, err := io.ReadAll(p.statusR)
	stop()
	if len(status) > 0 || err != nil {
		p.abort()
		if len(status) > 0 {
			return nil, fmt.Errorf("namespace: sandbox setup: %s", status)
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("namespace: waiting for sandbox setup: %w", err)
	}
	p.cfgW.Close()
	p.statusR.Close()

	s := &sandboxProc{
		id:      spec.ID,
		cmd:     p.cmd,
		cg:      p.cg,
		unplumb: p.unplumb,
		stream:  &stream{r: p.stdoutR, w: p.stdinW},
		done:    make(chan struct{}),
		copied:  make(chan struct{}),
	}
	// The init's stderr: copied, because a warm process was started before the
	// spec (and its Stderr) was known.
	go func(dst io.Writer) {
		if dst == nil {
			dst = io.Discard
		}
		io.Copy(dst, p.stderrR)
		p.stderrR.Close()
		close(s.copied)
	}(spec.Stderr)
	go s.wait()
	return s, nil
}

// setupProc is a started setup process, its cgroup and the parent's ends of its
// pipes.
type setupProc struct {
	cmd                      *exec.Cmd
	cg                       cgroup
	inCgroup                 bool // cloned into cg (v2); otherwise still to be moved there
	stdinW, stdoutR, stderrR *os.File
	cfgW, statusR            *os.File
	unplumb                  func() // releases its network link (Config.Network); nil without
}

var warmSeq atomic.Int64

// spawnWarm starts a setup process for the warm pool, in a cgroup of its own
// named after its slot.
func (d *Driver) spawnWarm() (*setupProc, error) {
	cg, err := d.cg.create(fmt.Sprintf("warm-%d-%d", os.Getpid(), warmSeq.Add(1)), limits{})
	if err != nil {
		return nil, err
	}
	p, err := d.spawn(cg)
	if err != nil {
		cg.remove(context.Background())
		return nil, err
	}
	if !p.inCgroup {
		if err := cg.addProc(p.cmd.Process.Pid); err != nil {
			p.abort()
			return nil, fmt.Errorf("namespace: join cgroup: %w", err)
		}
		p.inCgroup = true
	}
	return p, nil
}

// spawn starts a setup process in new PID, network, IPC and UTS namespaces: inside
// cg on cgroup v2 (clone3 CLONE_INTO_CGROUP); on v1 the caller moves it there. The
// process unshares its mount namespace and prepares the parts of the root that
// every sandbox shares at once, then waits for its config (setup.go).
func (d *Driver) spawn(cg cgroup) (*setupProc, error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	var ends [10]*os.File
	for i := 0; i < 10; i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("namespace: %w", err)
		}
		ends[i], ends[i+1] = r, w
		files = append(files, r, w)
	}
	stdinR, stdinW, stdoutR, stdoutW, stderrR, stderrW := ends[0], ends[1], ends[2], ends[3], ends[4], ends[5]
	cfgR, cfgW, statusR, statusW := ends[6], ends[7], ends[8], ends[9]
	attr := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		// If this process dies, its sandboxes die with it (the child re-arms it
		// after changing credentials, which clears it).
		Pdeathsig: syscall.SIGKILL,
	}
	if !d.noUserns.Load() {
		// A user namespace owns the others; see idMap for what it maps.
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings, attr.GidMappings = idMap, idMap
		attr.GidMappingsEnableSetgroups = true
	}
	cgDir, err := cg.openForClone()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("namespace: %w", err)
	}
	if cgDir != nil {
		defer cgDir.Close()
		attr.UseCgroupFD, attr.CgroupFD = true, int(cgDir.Fd())
	}
	start := func(attr *syscall.SysProcAttr) (*exec.Cmd, error) {
		cmd := &exec.Cmd{
			Path: d.exe,
			Args: []string{d.exe, SetupArg, d.root},
			// The setup work is one goroutine; fewer threads also make execve, which
			// has to stop them all, quicker.
			Env:         []string{"GOMAXPROCS=1"},
			Dir:         "/",
			Stdin:       stdinR,
			Stdout:      stdoutW,
			Stderr:      stderrW,
			ExtraFiles:  []*os.File{cfgR, statusW}, // fd 3, fd 4
			SysProcAttr: attr,
		}
		var err error
		onSpawnerThread(func() { err = cmd.Start() })
		return cmd, err
	}
	cmd, err := start(attr)
	if err != nil && attr.UseCgroupFD {
		// clone3 with CLONE_INTO_CGROUP needs Linux 5.7: migrate instead.
		attr.UseCgroupFD, attr.CgroupFD, cgDir = false, 0, nil
		cmd, err = start(attr)
	}
	if userErr := err; err != nil && attr.Cloneflags&syscall.CLONE_NEWUSER != 0 {
		// A host that forbids user namespaces (user.max_user_namespaces=0, some
		// hardened kernels) still gets every other namespace; UserNamespaces says so.
		attr.Cloneflags &^= syscall.CLONE_NEWUSER
		attr.UidMappings, attr.GidMappings = nil, nil
		if cmd, err = start(attr); err == nil && !d.noUserns.Swap(true) && d.log != nil {
			d.log.Warn("namespace: this host refuses user namespaces; sandboxes get the other namespaces only", "reason", userErr)
		}
	}
	for _, f := range []*os.File{stdinR, stdoutW, stderrW, cfgR, statusW} {
		f.Close()
	}
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("namespace: start setup process: %w", err)
	}
	p := &setupProc{cmd: cmd, cg: cg, inCgroup: cgDir != nil, stdinW: stdinW, stdoutR: stdoutR, stderrR: stderrR, cfgW: cfgW, statusR: statusR}
	if d.net != nil {
		// The process waits for its config, so nothing runs in the namespace yet.
		unplumb, err := d.net.Attach(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
		if err != nil {
			p.abort()
			return nil, fmt.Errorf("namespace: network: %w", err)
		}
		p.unplumb = unplumb
	}
	return p, nil
}

// abort kills a setup process that will not become a sandbox, and removes its
// cgroup.
func (p *setupProc) abort() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cg.killAll()
	p.cg.remove(context.Background())
	for _, f := range []*os.File{p.stdinW, p.stdoutR, p.stderrR, p.cfgW, p.statusR} {
		f.Close()
	}
	if p.unplumb != nil {
		go p.unplumb()
	}
}
