package namespace

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hearthfn/hearth/internal/netenv"
	"github.com/hearthfn/hearth/internal/netenv/netenvtest"
	"github.com/hearthfn/hearth/internal/sandbox/sandboxtest"
)

// TestNetwork: with a Network, a sandbox (cold or from a warm process) has eth0,
// reaches Hearth's listener on the gateway, is refused the gateway's other ports,
// sees the derived /etc/resolv.conf, and its link is gone after Kill. The host side
// is a namespace of the test's own, not the machine's.
func TestNetwork(t *testing.T) {
	testDriver(t) // skips when not root
	host := netenvtest.NewNS(t)
	dir := t.TempDir()
	n, err := netenv.Open(netenv.Config{
		Subnet: netip.MustParsePrefix("10.213.20.0/24"), Name: "namespace-test", HostNS: host,
		Policy:     netenv.Policy{Egress: netenv.EgressHearthOnly, ListenPort: 7101},
		ResolvConf: filepath.Join(dir, "resolv.conf"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	state, _ := os.MkdirTemp("", "hearth-namespace-net-")
	defer os.RemoveAll(state)
	d, err := New(Config{StateDir: state, CgroupParent: testCgroupParent + "-net", Exe: os.Args[0], Warm: 1, Network: n})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		d.Close()
		removeParent(d.cg, testCgroupParent+"-net")
	}()

	ln := netenvtest.Listen(t, host, "10.213.20.1:7101")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	probe := sandboxtest.BuildProbe(t)
	for i := range 2 { // the second from the warm process the first left
		p := sandboxtest.StartProbe(t, d, probe.Spec(t))
		if got := p.Must("ifaces"); !strings.Contains(got, `"eth0"`) {
			t.Errorf("start %d: interfaces %s, want eth0", i, got)
		}
		if got := p.Must("connect 10.213.20.1:7101"); got != "connected" {
			t.Errorf("start %d: Hearth's listener: %s", i, got)
		}
		if msg := p.Fails("connect 10.213.20.1:4222"); !strings.Contains(msg, "refused") {
			t.Errorf("start %d: another gateway port: %s, want refused", i, msg)
		}
		if got := p.Must("read /etc/resolv.conf"); !strings.Contains(got, "Written by Hearth") {
			t.Errorf("start %d: /etc/resolv.conf = %s", i, got)
		}
		p.SB.Kill(context.Background())
	}

	// Every link but the warm process's is gone once the sandboxes are.
	h, _ := netlink.NewHandleAt(host)
	defer h.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		links, _ := h.LinkList()
		var names []string
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		slices.Sort(names)
		if len(names) <= 3 || time.Now().After(deadline) { // lo, the gateway bridge, the warm process's link
			if len(names) > 3 {
				t.Errorf("links left after the sandboxes ended: %v", names)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}
