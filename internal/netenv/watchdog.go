package netenv

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox/watchdog"
)

// A Network changes the host: a bridge and its route, veths, nftables tables, and
// IPv4 forwarding. Close puts all of it back; a process killed with -9 cannot. So a
// Network on the host's own namespace with a StateDir starts a watchdog (package
// sandbox/watchdog: the binary re-executed, waiting for the server's end of a pipe
// to close) that removes the firewall, the bridge and the veths and restores
// forwarding when the server dies. StateDir's lock keeps it from a server that
// restarts on the same directory meanwhile: Open waits for the lock, and the
// watchdog only acts if it gets the lock within a few seconds of the death (else a
// new server has it, and that one's Open removed the leftovers). The next Open
// removes leftovers too, so a watchdog that never ran (the host rebooted, say)
// loses nothing.

// watchdogArg is os.Args[1] of a Network's watchdog process.
const watchdogArg = "__hearth-netenv-watchdog"

// Dispatched in init, as the sandbox drivers' watchdogs are: any binary that opens
// a Network is re-executed as its watchdog.
func init() {
	if len(os.Args) > 1 && os.Args[1] == watchdogArg {
		os.Exit(watchdogMain(os.Args[2:]))
	}
}

const (
	lockFileName       = "lock"
	forwardWasFileName = "ip_forward-before"
)

func watchdogMain(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("watchdog", "netenv")
	if len(args) != 2 {
		log.Error("bad arguments", "args", args)
		return 2
	}
	name, stateDir := args[0], args[1]
	if !watchdog.Wait() {
		return 0
	}
	lock, err := lockState(stateDir, 5*time.Second)
	if err != nil {
		log.Info("the server died; another holds its env network now", "err", err)
		return 0
	}
	defer lock.Close()
	n, err := newNetwork(Config{Name: name, StateDir: stateDir})
	if err != nil {
		log.Error("the server died; removing its env network failed", "err", err)
		return 1
	}
	defer n.host.Close()
	if was, ok := readForwardWas(stateDir); ok {
		n.forwardWas = was
	}
	if err := errors.Join(n.removeFirewall(), n.removeLinks(), n.restoreForwarding()); err != nil {
		log.Error("the server died; removing its env network failed", "err", err)
		return 1
	}
	log.Warn("the server died; its env network was removed")
	return 0
}

// lockState takes dir's lock (creating both), waiting up to wait for another
// holder to let go.
func lockState(dir string, wait time.Duration) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("netenv: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("netenv: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("netenv: lock %s (another hearth on this data directory?): %w", f.Name(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *Network) unlock() {
	if n.lock != nil {
		n.lock.Close()
		n.lock = nil
	}
}

func readForwardWas(dir string) (string, bool) {
	if dir == "" {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(dir, forwardWasFileName))
	if err != nil {
		return "", false
	}
	v := strings.TrimSpace(string(b))
	return v, v == "0" || v == "1"
}

func writeForwardWas(dir, v string) error {
	if dir == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, forwardWasFileName), []byte(v+"\n"), 0o600); err != nil {
		return fmt.Errorf("netenv: record the host's IPv4 forwarding: %w", err)
	}
	return nil
}

func removeForwardWas(dir string) {
	if dir != "" {
		os.Remove(filepath.Join(dir, forwardWasFileName))
	}
}
