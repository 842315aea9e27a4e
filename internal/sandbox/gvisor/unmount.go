package gvisor

import (
	"errors"
	"os"
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
