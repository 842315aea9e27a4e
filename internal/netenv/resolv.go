package netenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// resolvConf derives an env's /etc/resolv.conf from the host's: nameservers on
// loopback (systemd-resolved's 127.0.0.53, a local dnsmasq) are the host's own
// and unreachable from an env, so they are dropped; search and options lines stay.
func resolvConf(host []byte) []byte {
	var out bytes.Buffer
	out.WriteString("# Written by Hearth from the host's /etc/resolv.conf.\n")
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				continue
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil || a.IsLoopback() || a.IsUnspecified() {
				continue
			}
		case "search", "domain", "options":
		default:
			continue
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes()
}

// writeResolvConf writes the env's resolv.conf derived from the host's file at
// from (a host without one gets a file with no nameserver).
func writeResolvConf(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("netenv: read %s: %w", from, err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return fmt.Errorf("netenv: %w", err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, resolvConf(b), 0o644); err != nil {
		return fmt.Errorf("netenv: %w", err)
	}
	return os.Rename(tmp, to)
}
