package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hearthfn/hearth/internal/netenv"
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
func newDriver(name, dataDir, runsc, initBin string, preboot bool, network sandbox.Network, log *slog.Logger) (sandbox.Driver, error) {
	nsDriver := func() (sandbox.Driver, error) {
		return namespace.New(namespace.Config{StateDir: filepath.Join(dataDir, "sandbox", "namespace"), Exe: initBin, Warm: 10, Logger: log, Network: network})
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
		return gvisor.New(gvisor.Config{Runsc: path, StateDir: filepath.Join(dataDir, "sandbox", "gvisor"), PreBoot: preboot, Network: network})
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

// openNetwork sets up the envs' network for --egress internet or hearth-only (nil
// for none). Both drivers attach it: the namespace driver as it forks a setup
// process, the gVisor driver before runsc boots a sandbox (spares included).
func openNetwork(dataDir, egress, allow, deny, subnet string, functionPort uint16, limits netenv.Limits) (*netenv.Network, error) {
	mode := netenv.Egress(egress)
	switch mode {
	case netenv.EgressNone:
		if allow != "" || deny != "" {
			return nil, errors.New("--egress-allow and --egress-deny need --egress internet or hearth-only")
		}
		return nil, nil
	case netenv.EgressInternet, netenv.EgressHearthOnly:
	default:
		return nil, fmt.Errorf("--egress %q: want internet, hearth-only or none", egress)
	}
	p := netenv.Policy{Egress: mode, ListenPort: functionPort}
	for _, f := range []struct {
		flag, list string
		into       *[]netenv.Rule
	}{{"--egress-allow", allow, &p.Allow}, {"--egress-deny", deny, &p.Deny}} {
		for _, s := range strings.Split(f.list, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			r, err := netenv.ParseRule(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.flag, err)
			}
			*f.into = append(*f.into, r)
		}
	}
	pre, err := netip.ParsePrefix(subnet)
	if err != nil {
		return nil, fmt.Errorf("--env-subnet %q: %w", subnet, err)
	}
	return netenv.Open(netenv.Config{
		Subnet:     pre,
		Name:       dataDir,
		Policy:     p,
		ResolvConf: filepath.Join(dataDir, "network", "resolv.conf"),
		StateDir:   filepath.Join(dataDir, "network"),
		Limits:     limits,
	})
}

// besideSelf is a file next to the running hearth binary.
func besideSelf(name string) string {
	self, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(self), name)
}
