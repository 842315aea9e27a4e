//go:build linux

package gvisor

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/hearthfn/hearth/internal/netenv"
	"github.com/hearthfn/hearth/internal/netenv/netenvtest"
	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/sandbox/sandboxtest"
)

// netWorld is a host of the test's own: the namespace Hearth's host side lives in,
// an "outside" namespace linked to it (192.168.77.1 host side, .2 outside, with
// 169.254.169.254 outside too, routed from the host as a metadata server would
// be), and a Network in it. Nothing touches the machine's own network.
type netWorld struct {
	host, outside netns.NsHandle
	net           *netenv.Network
	gw            string
}

func newNetWorld(t *testing.T, policy netenv.Policy) *netWorld {
	w := &netWorld{host: netenvtest.NewNS(t), outside: netenvtest.NewNS(t), gw: "10.213.21.1"}
	netenvtest.Link(t,
		netenvtest.End{NS: w.host, Name: "up0", Addrs: []string{"192.168.77.1/24"},
			Routes: []netenvtest.Route{{To: "169.254.0.0/16", Via: "192.168.77.2"}}},
		netenvtest.End{NS: w.outside, Name: "up1", Addrs: []string{"192.168.77.2/24", "169.254.169.254/16"}})
	var err error
	w.net, err = netenv.Open(netenv.Config{
		Subnet: netip.MustParsePrefix("10.213.21.0/27"), Name: "gvisor-test", HostNS: w.host,
		Policy: policy, ResolvConf: filepath.Join(t.TempDir(), "resolv.conf"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.net.Close() })
	return w
}

// hostLinks lists the links of the world's host namespace.
func (w *netWorld) hostLinks(t *testing.T) []string {
	h, err := netlink.NewHandleAt(w.host)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	links, _ := h.LinkList()
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

// addrRecorder is the world's Network, noting the address each namespace got
// (runsc moves it into gVisor's netstack at boot, off the interface).
type addrRecorder struct {
	*netenv.Network
	mu    sync.Mutex
	addrs map[string]string // namespace path → address
}

func (r *addrRecorder) Attach(nsPath string) (func(), error) {
	release, err := r.Network.Attach(nsPath)
	if err != nil {
		return nil, err
	}
	if ns, err := netns.GetFromPath(nsPath); err == nil {
		if h, err := netlink.NewHandleAt(ns); err == nil {
			if l, err := h.LinkByName("eth0"); err == nil {
				if as, err := h.AddrList(l, netlink.FAMILY_V4); err == nil && len(as) > 0 {
					r.mu.Lock()
					r.addrs[filepath.Base(nsPath)] = as[0].IP.String()
					r.mu.Unlock()
				}
			}
			h.Close()
		}
		ns.Close()
	}
	return release, nil
}

var _ sandbox.Network = (*addrRecorder)(nil)

// TestNetwork: with a Network, a gVisor sandbox — booted for its start or ahead of
// it — has eth0 driven by gVisor's netstack; reaches Hearth's listener on the
// gateway and, with egress internet, the outside through NAT (the outside sees the
// host's address); is refused the gateway's other ports, a host port without an
// allow rule, the metadata address, a denied rule and another env (refused at once, as
// on the namespace driver); sees the derived
// /etc/resolv.conf. Once the sandboxes end, nothing of their network is left: no
// namespace mount, no host-side link, every address leased again.
func TestNetwork(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	deny, _ := netenv.ParseRule("192.168.77.2/32:8001")
	w := newNetWorld(t, netenv.Policy{Egress: netenv.EgressInternet, ListenPort: 7101, Deny: []netenv.Rule{deny}})
	baseline := w.hostLinks(t)
	rec := &addrRecorder{Network: w.net, addrs: map[string]string{}}
	state := stateDir(t)
	d, err := New(Config{Runsc: runscPath(t), StateDir: state, CgroupParent: "hearth-gvisor-test", PreBoot: true, Network: rec})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.Close()
		}
	})

	outside := netenvtest.Serve(t, w.outside, "192.168.77.2:8000")
	netenvtest.Serve(t, w.outside, "192.168.77.2:8001")
	netenvtest.Serve(t, w.outside, "169.254.169.254:80")
	hearth := netenvtest.Serve(t, w.host, w.gw+":7101") // Hearth's function-facing listener
	netenvtest.Serve(t, w.host, w.gw+":4222")           // e.g. NATS on the gateway address
	netenvtest.Serve(t, w.host, "192.168.77.1:9001")    // a host service, no allow rule
	// Another env (a plain namespace plumbed by the same Network) with a server.
	other := netenvtest.NewNS(t)
	ol, err := w.net.Plumb(other)
	if err != nil {
		t.Fatal(err)
	}
	otherAddr := net.JoinHostPort(ol.Addr.String(), "7000")
	netenvtest.Serve(t, other, otherAddr)

	probe := sandboxtest.BuildProbe(t)
	spares := 0
	for i := range 4 { // the third and fourth from spares booted ahead
		if i >= 2 {
			waitSpare(t, d)
		}
		p := sandboxtest.StartProbe(t, d, probe.Spec(t))
		b := p.SB.(*box)
		if strings.HasPrefix(b.rid, "spare-") {
			spares++
		}
		envAddr := rec.addrs[b.rid]
		if envAddr == "" {
			t.Fatalf("start %d: no address was recorded for %s", i, b.rid)
		}
		if got := p.Must("ifaces"); !strings.Contains(got, `"eth0"`) {
			t.Errorf("start %d: interfaces %s, want eth0", i, got)
		}
		if got := p.Must("connect " + w.gw + ":7101"); got != "connected" {
			t.Errorf("start %d: Hearth's listener: %s", i, got)
		} else if seen := <-hearth; seen != envAddr {
			t.Errorf("start %d: Hearth's listener saw %s, want the env's address %s", i, seen, envAddr)
		}
		if got := p.Must("connect 192.168.77.2:8000"); got != "connected" {
			t.Errorf("start %d: the outside: %s", i, got)
		} else if seen := <-outside; seen != "192.168.77.1" {
			t.Errorf("start %d: the outside saw %s, want the host's address 192.168.77.1 (NAT)", i, seen)
		}
		for _, c := range []struct{ addr, what string }{
			{w.gw + ":4222", "another port on the gateway"},
			{"192.168.77.1:9001", "a host port without an allow rule"},
			{"169.254.169.254:80", "the metadata address"},
			{"192.168.77.2:8001", "a denied destination"},
			{otherAddr, "another env"},
		} {
			// Refused at once: the firewall's ICMP port-unreachable reaches gVisor's
			// netstack as ECONNREFUSED, as it does the host's kernel.
			if msg := p.Fails("connect " + c.addr); !strings.Contains(msg, "refused") {
				t.Errorf("start %d: %s (%s): %s, want connection refused", i, c.what, c.addr, msg)
			}
		}
		if got := p.Must("read /etc/resolv.conf"); !strings.Contains(got, "Written by Hearth") {
			t.Errorf("start %d: /etc/resolv.conf = %s", i, got)
		}
		p.SB.Kill(context.Background())
		select {
		case <-b.netGone:
		case <-time.After(10 * time.Second):
			t.Fatalf("start %d: the network of %s was not released 10s after Kill", i, b.rid)
		}
		if _, err := os.Stat(filepath.Join(state, netnsDirName, b.rid)); !os.IsNotExist(err) {
			t.Errorf("start %d: the namespace mount of %s is left after Kill (%v)", i, b.rid, err)
		}
	}
	if spares == 0 {
		t.Error("no start took a sandbox booted ahead")
	}

	// Once the driver is closed (its spares killed), nothing is left: the host's
	// links are the baseline's plus the other env's, no namespace is mounted, and
	// every address can be leased again.
	d.Close()
	closed = true
	if left := w.hostLinks(t); len(left) != len(baseline)+1 {
		t.Errorf("host links after the sandboxes ended: %v, want %v and the other env's", left, baseline)
	}
	if left, _ := os.ReadDir(filepath.Join(state, netnsDirName)); len(left) > 0 {
		t.Errorf("namespace mounts left: %v", left)
	}
	if mounted := mountsUnder(state); len(mounted) > 0 {
		t.Errorf("mounts left under the state directory: %v", mounted)
	}
	var leases []*netenv.Lease
	defer func() {
		for _, l := range leases {
			w.net.Release(l)
		}
	}()
	for range 28 { // a /27 less its network, gateway and broadcast addresses and the other env
		ns := netenvtest.NewNS(t)
		l, err := w.net.Plumb(ns)
		if err != nil {
			t.Fatalf("after %d leases: %v (an address was not returned)", len(leases), err)
		}
		leases = append(leases, l)
	}
}

// waitSpare waits until d has a sandbox booted ahead.
func waitSpare(t *testing.T, d *Driver) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		d.pre.mu.Lock()
		n := len(d.pre.order)
		d.pre.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no sandbox was booted ahead in 30s")
}

// mountsUnder lists the mount points below dir.
func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// TestNetworkLeftoversReaped: the namespace mount a crashed server left (its
// Sentry dead, nothing released) is removed by the next driver on the same state
// directory — as by the watchdog, which runs the same reap — and the kernel then
// deletes the namespace and its link.
func TestNetworkLeftoversReaped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	w := newNetWorld(t, netenv.Policy{Egress: netenv.EgressHearthOnly, ListenPort: 7101})
	baseline := w.hostLinks(t)
	state := stateDir(t)
	cfg := Config{Runsc: runscPath(t), StateDir: state, CgroupParent: "hearth-gvisor-test", Network: w.net}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path, _, err := d.attachNet("crashed-env") // never torn down, as after kill -9
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if n := len(w.hostLinks(t)); n != len(baseline)+1 {
		t.Fatalf("host links with the leftover plumbed: %v, want the baseline %v and one more", w.hostLinks(t), baseline)
	}
	d2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the leftover namespace mount %s is still there (%v)", path, err)
	}
	if mounted := mountsUnder(state); len(mounted) > 0 {
		t.Errorf("mounts left under the state directory: %v", mounted)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(w.hostLinks(t)) != len(baseline) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := w.hostLinks(t); len(left) != len(baseline) {
		t.Errorf("host links after the restart's reap: %v, want %v", left, baseline)
	}
}
