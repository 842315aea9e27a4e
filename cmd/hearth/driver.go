package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/sandbox/gvisor"
	"github.com/hearthfn/hearth/internal/sandbox/namespace"
)

// newDriver builds the sandbox driver serve was asked for. "auto" prefers gVisor (a
// user-space kernel between the function and the host) where runsc works, and falls
// back to Linux namespaces.
// The namespace driver's setup step runs as hearth-init (initBin), which starts in a
// fraction of hearth's time and memory: it is on every cold start's path. Ten setup
// processes are kept ready, the burst of cold starts Hearth means to serve in about a
// second: past the ready ones, a burst's setup processes are forked one at a time,
// and with the driver's default of two, eight of ten queued for 0.4-1.2 s on two
// busy cores. Ten idle hearth-inits hold ~5 MB.
func newDriver(name, dataDir, runsc, initBin string, preboot bool, log *slog.Logger) (sandbox.Driver, error) {
	nsDriver := func() (sandbox.Driver, error) {
		return namespace.New(namespace.Config{StateDir: filepath.Join(dataDir, "sandbox", "namespace"), Exe: initBin, Warm: 10, Logger: log})
	}
	gvDriver := func() (sandbox.Driver, error) {
		path := runsc
		if path == "" {
			path = besideSelf("runsc")
			if _, err := os.Stat(path); err != nil {
				if p, err := exec.LookPath("runsc"); err == nil {
					path = p
				}
			}
		}
		return gvisor.New(gvisor.Config{Runsc: path, StateDir: filepath.Join(dataDir, "sandbox", "gvisor"), PreBoot: preboot})
	}
	switch name {
	case "none":
		return nil, nil
	case "namespace":
		return nsDriver()
	case "gvisor":
		return gvDriver()
	case "auto":
		d, err := gvDriver()
		if err == nil {
			return d, nil
		}
		log.Info("gVisor is not usable here; using the namespace driver", "reason", err)
		return nsDriver()
	}
	return nil, fmt.Errorf("unknown --sandbox %q (want gvisor, namespace, none or auto)", name)
}

// besideSelf is a file next to the running hearth binary.
func besideSelf(name string) string {
	self, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(self), name)
}
