//go:build linux

package gvisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// The env network (Config.Network). runsc runs the Sentry in the network namespace
// the OCI spec names by path, when its --network is not none, and copies every UP
// interface's addresses and routes into gVisor's netstack, which from then on
// drives the interface through an AF_PACKET socket. The network is fixed when the
// sandbox boots: a spare must be plumbed before its `runsc run`, and keeps its
// address for life.
//
// So each networked sandbox gets a namespace of Hearth's own: unshared on a locked
// thread that then ends, bind-mounted at STATE/netns/RID so runsc can open it by
// path, and linked to the host by Network.Attach before `runsc run --network
// sandbox`. When the sandbox ends (Kill, the reaper, an exit of its own), the link
// is released and the mount removed, which frees the namespace; that takes tens of
// milliseconds (the veth's deletion), so it runs in the goroutine that waits for
// runsc, never on the way to Done. After a crash, reap unmounts whatever is left
// under STATE/netns; the kernel then deletes each namespace's veth pair with it.

// netnsDirName, in the state directory, holds the sandboxes' namespace mounts.
const netnsDirName = "netns"

// attachNet creates rid's network namespace and plumbs it; teardown undoes both.
func (d *Driver) attachNet(rid string) (path string, teardown func(), err error) {
	path = filepath.Join(d.cfg.StateDir, netnsDirName, rid)
	if err := newNetns(path); err != nil {
		return "", nil, fmt.Errorf("gvisor: network namespace: %w", err)
	}
	release, err := d.cfg.Network.Attach(path)
	if err != nil {
		_ = removeNetns(path)
		return "", nil, fmt.Errorf("gvisor: network: %w", err)
	}
	return path, func() {
		release()
		_ = removeNetns(path)
	}, nil
}

// newNetns creates a network namespace and bind-mounts it at path (a new file).
func newNetns(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine ends with its thread in the new namespace,
		// and Go then ends the thread rather than reuse it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mount the namespace at %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// removeNetns unmounts path (every mount stacked there) and removes the file.
func removeNetns(path string) error {
	for i := 0; i < 16; i++ {
		if err := unmount(path); err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			if !errors.Is(err, errNotMounted) {
				return fmt.Errorf("gvisor: unmount %s: %w", path, err)
			}
			break
		}
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("gvisor: %w", err)
	}
	return nil
}

// removeAllNetns removes every namespace mount under the state directory: what a
// crashed driver left.
func removeAllNetns(stateDir string) error {
	dir := filepath.Join(stateDir, netnsDirName)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("gvisor: %w", err)
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, removeNetns(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}
