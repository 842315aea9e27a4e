// Package gvisor runs each execution environment in its own gVisor sandbox: runsc
// with the systrap platform (no hardware virtualisation needed), an OCI bundle
// generated per sandbox, loopback only or, with Config.Network, the env network
// (netns.go), and hearth-init as the container's
// process, talking to the worker over the stdio that `runsc run` passes through.
// gVisor puts a user-space kernel (the Sentry) between the function and the host,
// so a kernel bug reachable from the function is not a host bug. With
// Config.PreBoot, sandboxes of recently repeated shapes are booted ahead
// (preboot.go): runsc's boot is most of a gVisor cold start.
package gvisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/sandbox/watchdog"
)

// Config configures the driver.
type Config struct {
	// Runsc is the path of the runsc binary.
	Runsc string
	// StateDir holds runsc's state (--root) and the per-sandbox bundles.
	StateDir string
	// Platform is runsc's --platform; systrap works without virtualisation.
	Platform string
	// CgroupParent names the cgroup under which sandboxes are placed.
	CgroupParent string
	// PreBoot keeps a sandbox booted ahead for each recently repeated shape, so a
	// cold start skips `runsc run` (preboot.go).
	PreBoot bool
	// Network, when set, links every sandbox to the host beyond loopback: each gets
	// a network namespace of its own, attached before runsc boots it (netns.go).
	// Nil: loopback only.
	Network sandbox.Network
}

// Driver starts gVisor sandboxes.
type Driver struct {
	cfg  Config
	root string   // runsc --root
	pre  *preboot // nil without Config.PreBoot
	lock *os.File // StateDir/lock, flocked while the driver lives (watchdog.go)
	dog  *watchdog.Process
	// releasing counts the network teardowns of ended sandboxes still running
	// (netns.go); Close waits for them.
	releasing sync.WaitGroup
}

var _ sandbox.Driver = (*Driver)(nil)

// New checks that runsc is there and runs, prepares the state directory, removes
// the sandboxes a crashed process left there and starts the driver's watchdog,
// which does the same if this process dies without Close (watchdog.go).
func New(cfg Config) (*Driver, error) {
	if cfg.Runsc == "" {
		return nil, errors.New("gvisor: no runsc binary given")
	}
	if cfg.Platform == "" {
		cfg.Platform = "systrap"
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "hearth-gvisor"
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("gvisor: runsc needs root to create sandboxes")
	}
	out, err := exec.Command(cfg.Runsc, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("gvisor: %s --version: %v: %s", cfg.Runsc, err, bytes.TrimSpace(out))
	}
	// Absolute: the watchdog finds runsc's processes by the --root on their
	// command lines.
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	d := &Driver{cfg: cfg, root: filepath.Join(cfg.StateDir, "root")}
	for _, dir := range []string{d.root, filepath.Join(cfg.StateDir, "bundles"), filepath.Join(cfg.StateDir, netnsDirName)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("gvisor: %w", err)
		}
	}
	// A watchdog of a server that died here may still be reaping: wait for it.
	if d.lock, err = lockState(cfg.StateDir, 15*time.Second); err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	if _, err := reap(cfg); err != nil {
		d.lock.Close()
		return nil, fmt.Errorf("gvisor: remove what a previous process left: %w", err)
	}
	if err := d.startWatchdog(); err != nil {
		d.lock.Close()
		return nil, err
	}
	if cfg.PreBoot {
		d.pre = newPreboot(d)
	}
	return d, nil
}

// Name is "gvisor".
func (d *Driver) Name() string { return "gvisor" }

// Capabilities: runsc pause/resume freezes and thaws. Checkpoint/restore is a
// gVisor feature Hearth will use for snapshots; not wired yet.
func (d *Driver) Capabilities() sandbox.Capabilities {
	return sandbox.Capabilities{Freeze: true, CPULimit: true}
}

// runsc builds a runsc command with the driver's global flags.
func (d *Driver) runsc(args ...string) *exec.Cmd { return d.runscNet("none", args...) }

// runscNet is runsc with --network network: "sandbox" (gVisor's netstack in the
// spec's network namespace) for `run` of a networked sandbox, "none" otherwise.
func (d *Driver) runscNet(network string, args ...string) *exec.Cmd {
	global := []string{
		"--root", d.root,
		"--platform", d.cfg.Platform,
		"--network", network,
	}
	if d.cfg.Platform == "systrap" {
		// Systrap's fast path has a stub and the Sentry spin while they wait for each
		// other. Under a function's quota the stubs' spinning is CPU the function pays
		// for: a warm no-op invoke cost the stubs 1.7 ms of user time spinning at
		// 128 MB (0.87 ms without), the sandbox 9.0 ms in all (6.5 ms), and was slower.
		global = append(global, "--systrap-disable-fast-path")
	}
	return exec.Command(d.cfg.Runsc, append(global, args...)...)
}

// Start writes the bundle and runs `runsc run`, whose stdin/stdout become the
// sandbox's stream; or, with PreBoot, takes a sandbox of the spec's shape booted
// ahead and links the code into it.
func (d *Driver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if !validID(spec.ID) {
		return nil, fmt.Errorf("gvisor: invalid sandbox ID %q", spec.ID)
	}
	if d.pre != nil {
		if b := d.pre.take(spec); b != nil {
			return b, nil
		}
	}
	return d.boot(spec, spec.ID, filepath.Join(d.cfg.StateDir, "bundles", spec.ID))
}

// boot writes spec's bundle, plumbs the sandbox's network when the driver has one,
// and starts `runsc run` as container rid.
func (d *Driver) boot(spec sandbox.Spec, rid, bundle string) (*box, error) {
	network, nsPath := "none", ""
	var teardown func()
	if d.cfg.Network != nil {
		var err error
		if nsPath, teardown, err = d.attachNet(rid); err != nil {
			os.RemoveAll(bundle)
			return nil, err
		}
		network = "sandbox"
	}
	fail := func(err error) (*box, error) {
		os.RemoveAll(bundle)
		if teardown != nil {
			d.releasing.Add(1)
			go func() {
				defer d.releasing.Done()
				teardown()
			}()
		}
		return nil, err
	}
	if err := writeBundle(bundle, spec, d.cfg.CgroupParent, d.netMounts(nsPath)); err != nil {
		return fail(err)
	}
	b, err := startProcess(d.runscNet(network, "run", "--bundle", bundle, rid), spec, d, bundle, teardown)
	if err != nil {
		return fail(err)
	}
	return b, nil
}

// netMounts is what a sandbox with the namespace at nsPath ("": none) adds to its
// bundle.
func (d *Driver) netMounts(nsPath string) bundleNet {
	if nsPath == "" {
		return bundleNet{}
	}
	return bundleNet{nsPath: nsPath, resolvConf: d.cfg.Network.ResolvConf()}
}

// commandErr runs a runsc subcommand and folds its output into the error.
func (d *Driver) command(ctx context.Context, args ...string) error {
	cmd := d.runsc(args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("runsc %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Close kills the pre-booted sandboxes, stops the watchdog and releases what runsc
// leaves under its root between sandboxes: a bind mount of an empty network
// namespace, which would otherwise keep the data directory from being removed. It
// does not stop the sandboxes it handed out; Kill them first.
func (d *Driver) Close() error {
	if d.pre != nil {
		d.pre.close()
	}
	// The spares' network teardowns, and those of sandboxes that ended just before.
	d.releasing.Wait()
	var errs []error
	if d.dog != nil {
		errs = append(errs, d.dog.Stop())
		d.dog = nil
	}
	errs = append(errs, unmountNullNetns(d.root))
	if d.lock != nil {
		errs = append(errs, d.lock.Close())
		d.lock = nil
	}
	return errors.Join(errs...)
}

// validID is sandbox.Spec's rule for IDs ([a-zA-Z0-9_-], at most 64 characters),
// checked here because a pre-booted sandbox never shows the spec's ID to runsc.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
