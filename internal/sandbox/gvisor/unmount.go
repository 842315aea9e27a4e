package gvisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// errNotMounted: the path is not (any longer) a mount point.
var errNotMounted = errors.New("not mounted")

func unmount(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	err := syscall.Unmount(path, syscall.MNT_DETACH)
	if errors.Is(err, syscall.EINVAL) {
		return errNotMounted
	}
	return err
}

// unmountNullNetns removes the bind mount of an empty network namespace that runsc
// keeps under its root between sandboxes; it would keep the data directory from
// being removed. Two sandboxes that start together on a fresh root each mount it
// once: unmount until nothing is mounted there.
func unmountNullNetns(root string) error {
	p := filepath.Join(root, "null-netns")
	for i := 0; i < 16; i++ {
		if err := unmount(p); err != nil {
			if os.IsNotExist(err) || errors.Is(err, errNotMounted) {
				return nil
			}
			return fmt.Errorf("gvisor: unmount %s: %w", p, err)
		}
	}
	return nil
}
