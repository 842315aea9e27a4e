package netenv

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/netenv/netenvtest"
)

func openLimits(t *testing.T, host netns.NsHandle, subnet string, p Policy, l Limits) *Network {
	t.Helper()
	n, err := Open(Config{Subnet: netip.MustParsePrefix(subnet), Name: t.Name(), HostNS: host, Policy: p, Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// hold serves TCP at addr inside ns, keeping every connection open until its
// client closes it, and returns how many it accepted.
func hold(t *testing.T, ns netns.NsHandle, addr string) *atomic.Int32 {
	t.Helper()
	ln := netenvtest.Listen(t, ns, addr)
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	return &accepted
}

func dialConn(t *testing.T, ns netns.NsHandle, addr string) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var err error
	netenvtest.InNS(t, ns, func() { c, err = net.DialTimeout("tcp", addr, 2*time.Second) })
	return c, err
}

func isRefused(err error) bool { return err != nil && strings.Contains(err.Error(), "refused") }

// TestConnectionLimit: an env holds at most MaxConnections at once, counted
// together whether they go to the host's listener (input) or through it
// (forward); the next is refused at once, another env is not affected, and a
// closed connection frees its place.
func TestConnectionLimit(t *testing.T) {
	w := newWorld(t)
	n := openLimits(t, w.host, "10.213.13.0/24", Policy{Egress: EgressInternet, ListenPort: testListenPort}, Limits{MaxConnections: 5})
	env, other := netenvtest.NewNS(t), netenvtest.NewNS(t)
	if _, err := n.Plumb(env); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Plumb(other); err != nil {
		t.Fatal(err)
	}
	hold(t, w.host, "10.213.13.1:7101")
	hold(t, w.outside, "192.168.77.2:8000")

	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i, addr := range []string{"10.213.13.1:7101", "10.213.13.1:7101", "10.213.13.1:7101", "192.168.77.2:8000", "192.168.77.2:8000"} {
		c, err := dialConn(t, env, addr)
		if err != nil {
			t.Fatalf("connection %d (%s): %v", i+1, addr, err)
		}
		open = append(open, c)
	}
	for _, addr := range []string{"10.213.13.1:7101", "192.168.77.2:8000"} {
		start := time.Now()
		if c, err := dialConn(t, env, addr); !isRefused(err) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("a sixth connection (%s): %v, want refused", addr, err)
		} else if d := time.Since(start); d > time.Second {
			t.Errorf("the refusal took %v, want at once", d)
		}
	}
	// The first five still work.
	for i, c := range open {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Errorf("connection %d after the refusals: %v", i+1, err)
		}
	}
	// Another env has its own count.
	if c, err := dialConn(t, other, "10.213.13.1:7101"); err != nil {
		t.Errorf("another env: %v", err)
	} else {
		c.Close()
	}

	// Two close; two new ones fit (once conntrack has seen them close), a third does not.
	open[0].Close()
	open[3].Close()
	open = append(open[1:3], open[4])
	deadline := time.Now().Add(5 * time.Second)
	for len(open) < 5 {
		c, err := dialConn(t, env, "192.168.77.2:8000")
		if err == nil {
			open = append(open, c)
			continue
		}
		if !isRefused(err) || time.Now().After(deadline) {
			t.Fatalf("after two closed, connection %d: %v", len(open)+1, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c, err := dialConn(t, env, "10.213.13.1:7101"); !isRefused(err) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a sixth connection again: %v, want refused", err)
	}
}

// TestConnectionRate: an env opens at most NewConnectionsPerSec a second (burst
// as many); the packets of one UDP flow count once, answered or not.
func TestConnectionRate(t *testing.T) {
	host := netenvtest.NewNS(t)
	allowUDP, _ := ParseRule("10.213.14.1/32:7102")
	n := openLimits(t, host, "10.213.14.0/24", Policy{Egress: EgressHearthOnly, ListenPort: testListenPort, Allow: []Rule{allowUDP}}, Limits{NewConnectionsPerSec: 5})
	env := netenvtest.NewNS(t)
	if _, err := n.Plumb(env); err != nil {
		t.Fatal(err)
	}
	hold(t, host, "10.213.14.1:7101")
	start := time.Now()
	ok, refused := 0, 0
	for range 30 {
		c, err := dialConn(t, env, "10.213.14.1:7101")
		switch {
		case err == nil:
			ok++
			c.Close()
		case isRefused(err):
			refused++
		default:
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	// A burst of 5, then 5 a second.
	if most := 5 + int(elapsed.Seconds()*5) + 1; ok < 5 || ok > most || refused == 0 {
		t.Errorf("30 connections in %v: %d opened, %d refused; want 5 to %d opened", elapsed, ok, refused, most)
	}

	// One UDP flow of 50 unanswered datagrams: all arrive (they are one connection).
	var pc net.PacketConn
	var err error
	netenvtest.InNS(t, host, func() { pc, err = net.ListenPacket("udp", "10.213.14.1:7102") })
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	time.Sleep(time.Second) // the bucket refills
	var u net.Conn
	netenvtest.InNS(t, env, func() { u, err = net.Dial("udp", "10.213.14.1:7102") })
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for range 50 {
		u.Write([]byte("datagram"))
	}
	got := 0
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	for got < 50 {
		if _, _, err := pc.ReadFrom(buf); err != nil {
			break
		}
		got++
	}
	if got != 50 {
		t.Errorf("%d of 50 datagrams of one flow arrived", got)
	}
}

// The bandwidth tests shape to this, far below what a veth pair carries even on a
// busy two-core machine (several hundred Mbit/s at the least).
const testMbit = 40

// checkRate fails the test unless bytes over d is near testMbit: below twice it
// (unshaped is far above), above a quarter (shaped, not stalled).
func checkRate(t *testing.T, what string, bytes int64, d time.Duration) {
	t.Helper()
	mbit := float64(bytes) * 8 / d.Seconds() / 1e6
	t.Logf("%s: %.1f Mbit/s (%d bytes in %v), shaped to %d", what, mbit, bytes, d.Round(time.Millisecond), testMbit)
	if mbit > 2*testMbit || mbit < testMbit/4 {
		t.Errorf("%s: %.1f Mbit/s, want near %d", what, mbit, testMbit)
	}
}

// TestBandwidth: a bulk TCP transfer from an env and one to it are each shaped
// near the configured rate.
func TestBandwidth(t *testing.T) {
	host := netenvtest.NewNS(t)
	n := openLimits(t, host, "10.213.15.0/24", Policy{Egress: EgressHearthOnly, ListenPort: testListenPort}, Limits{BandwidthMbit: testMbit})
	env := netenvtest.NewNS(t)
	if _, err := n.Plumb(env); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	var err error
	netenvtest.InNS(t, host, func() { ln, err = net.Listen("tcp", "10.213.15.1:7101") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const run = 1500 * time.Millisecond
	blast := func(c net.Conn) {
		buf := make([]byte, 64<<10)
		end := time.Now().Add(run)
		for time.Now().Before(end) {
			c.SetWriteDeadline(end)
			if _, err := c.Write(buf); err != nil {
				break
			}
		}
		c.Close()
	}
	// count reads c to its end: the bytes, and the time from the first to the last.
	count := func(c net.Conn) (int64, time.Duration) {
		buf := make([]byte, 64<<10)
		k, _ := c.Read(buf)
		start := time.Now()
		rest, _ := io.CopyBuffer(io.Discard, c, buf)
		return int64(k) + rest, time.Since(start)
	}

	// From the env: the server counts.
	type result struct {
		n int64
		d time.Duration
	}
	up := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			up <- result{}
			return
		}
		defer c.Close()
		b, d := count(c)
		up <- result{b, d}
	}()
	c, err := dialConn(t, env, "10.213.15.1:7101")
	if err != nil {
		t.Fatal(err)
	}
	blast(c)
	r := <-up
	checkRate(t, "from the env", r.n, r.d)

	// To the env: the env counts.
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		blast(c)
	}()
	c, err = dialConn(t, env, "10.213.15.1:7101")
	if err != nil {
		t.Fatal(err)
	}
	b, d := count(c)
	c.Close()
	checkRate(t, "to the env", b, d)
}

// TestShapedAFPacket: frames an env sends through an AF_PACKET socket on its
// eth0 — the way gVisor's Sentry sends an env's packets — go through the env
// side's qdisc and are shaped too.
func TestShapedAFPacket(t *testing.T) {
	host := netenvtest.NewNS(t)
	allowUDP, _ := ParseRule("10.213.16.1/32:7102")
	n := openLimits(t, host, "10.213.16.0/24", Policy{Egress: EgressHearthOnly, Allow: []Rule{allowUDP}}, Limits{BandwidthMbit: testMbit})
	env := netenvtest.NewNS(t)
	l, err := n.Plumb(env)
	if err != nil {
		t.Fatal(err)
	}
	var pc net.PacketConn
	netenvtest.InNS(t, host, func() { pc, err = net.ListenPacket("udp", "10.213.16.1:7102") })
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	hostSide, err := n.host.LinkByName(l.host)
	if err != nil {
		t.Fatal(err)
	}
	in, err := netlink.NewHandleAt(env)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	eth, err := in.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	frame := udpFrame(hostSide.Attrs().HardwareAddr, eth.Attrs().HardwareAddr, l.Addr, l.Gateway, 7102, 1400)
	var fd int
	netenvtest.InNS(t, env, func() { fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) })
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: eth.Attrs().Index, Protocol: htons(unix.ETH_P_IP), Halen: 6}
	copy(to.Addr[:], hostSide.Attrs().HardwareAddr)

	const run = time.Second
	var received, last atomic.Int64
	first := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 2048)
		for {
			pc.SetReadDeadline(time.Now().Add(run + 2*time.Second))
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if received.Add(int64(k)) == int64(k) {
				first <- time.Now()
			}
			last.Store(time.Now().UnixNano())
		}
	}()
	sent, dropped := 0, 0
	end := time.Now().Add(run)
	for time.Now().Before(end) {
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			dropped++ // ENOBUFS: the qdisc's queue is full
			continue
		}
		sent++
	}
	time.Sleep(200 * time.Millisecond) // the queue drains
	pc.Close()
	var start time.Time
	select {
	case start = <-first:
	default:
		t.Fatalf("nothing arrived (%d frames sent, %d refused)", sent, dropped)
	}
	t.Logf("%d frames sent, %d refused by the qdisc", sent, dropped)
	checkRate(t, "AF_PACKET from the env", received.Load(), time.Unix(0, last.Load()).Sub(start))
}

// udpFrame is an Ethernet frame of one UDP datagram with size bytes of payload.
func udpFrame(dst, src net.HardwareAddr, from, to netip.Addr, port uint16, size int) []byte {
	f := make([]byte, 14+20+8+size)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+size))
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	a, b := from.As4(), to.As4()
	copy(ip[12:16], a[:])
	copy(ip[16:20], b[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], port)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+size)) // checksum 0: none
	return f
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func TestLimitsDefaults(t *testing.T) {
	got := Limits{MaxConnections: -1}.withDefaults()
	want := Limits{MaxConnections: -1, NewConnectionsPerSec: DefaultNewConnectionsPerSec, BandwidthMbit: DefaultBandwidthMbit}
	if got != want {
		t.Errorf("withDefaults: %+v, want %+v", got, want)
	}
	if s := got.String(); s != "connections off, new connections 1000/s, bandwidth 600 Mbit/s" {
		t.Errorf("String: %q", s)
	}
}
