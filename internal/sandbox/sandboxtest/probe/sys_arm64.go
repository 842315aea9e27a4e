//go:build linux

package main

const (
	sysKeyctl        = 219
	sysIoUringSetup  = 425
	sysBPF           = 280
	sysPerfEventOpen = 241
	sysUserfaultfd   = 282
)
