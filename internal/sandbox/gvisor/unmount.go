package gvisor

import (
	"errors"
	"os"
	"syscall"
)

func unmount(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	err := syscall.Unmount(path, syscall.MNT_DETACH)
	if errors.Is(err, syscall.EINVAL) {
		return nil // not a mount point
	}
	return err
}
