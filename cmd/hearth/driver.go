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
func newDriver(name, dataDir, runsc string, preboot bool, log *slog.Logger) (sandbox.Driver, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	nsDriver := func() (sandbox.Driver, error) {
		return namespace.New(namespace.Config{StateDir: filepath.Join(dataDir, "sandbox", "namespace"), Exe: self, Logger: log})
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
