//go:build linux

package main

const (
	sysKeyctl        = 250
	sysIoUringSetup  = 425
	sysBPF           = 321
	sysPerfEventOpen = 298
	sysUserfaultfd   = 323
)
