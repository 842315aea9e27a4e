//go:build linux && !amd64 && !arm64

package main

// Numbers unknown here: the probe reports these as ENOSYS.
const (
	sysKeyctl        = ^uintptr(0)
	sysIoUringSetup  = ^uintptr(0)
	sysBPF           = ^uintptr(0)
	sysPerfEventOpen = ^uintptr(0)
	sysUserfaultfd   = ^uintptr(0)
)
