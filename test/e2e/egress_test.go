package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/hearthfn/hearth/internal/netenv/netenvtest"
)

// TestEgressHearthOnly: with --egress hearth-only a function reaches Hearth's
// function-facing listener (its AWS_ENDPOINT_URL_LAMBDA and _STS) and fetches from
// an HTTP server the test runs on the host only through the --egress-allow rule for
// its port (the server sees the env's own address), and is refused the host's other
// ports, the NATS port, the metadata address and a denied rule; on both drivers
// (gVisor's netstack sends from its own namespace through the same firewall).
// Every address is one the test serves on this machine or one nothing answers on;
// nothing leaves it.
func TestEgressHearthOnly(t *testing.T) {
	forEachDriver(t, testEgressHearthOnly)
}

func testEgressHearthOnly(t *testing.T, driver string) {
	// An HTTP server on every host address, which the allow rule opens to envs.
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the host to %s", r.RemoteAddr)
	}))
	ln, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	web.Listener = ln
	web.Start()
	t.Cleanup(web.Close)
	allowed, other := ln.Addr().(*net.TCPAddr).Port, listenAll(t)
	subnet := nextEnvSubnet() // none other of this test process has it
	gw := strings.TrimSuffix(subnet, "0/24") + "1"
	// The embedded NATS server's port, open on every host address: all of Hearth's
	// state is behind it, so no env may reach it.
	natsPort := freeTCPPort(t)
	s := startSandboxServer(t, driver,
		"--egress", "hearth-only", "--env-subnet", subnet,
		"--egress-allow", gw+"/32:"+strconv.Itoa(allowed),
		"--egress-deny", "192.0.2.99/32",
		"--nats-listen", "0.0.0.0:"+strconv.Itoa(natsPort))
	fn := deploy(t, s, kindPython)
	targets := map[string]bool{
		net.JoinHostPort(gw, strconv.Itoa(allowed)):  true,  // the allow rule
		net.JoinHostPort(gw, strconv.Itoa(other)):    false, // the host, no rule
		net.JoinHostPort(gw, strconv.Itoa(natsPort)): false, // NATS
		"169.254.169.254:80":                         false, // instance metadata
		"192.0.2.99:80":                              false, // a deny rule
	}
	var list []string
	for hp := range targets {
		list = append(list, hp)
	}
	// Hearth's function-facing listener on the gateway, and the variable that
	// points the SDKs at it.
	endpoint := "http://" + net.JoinHostPort(gw, "9061")
	var echo struct {
		Env map[string]string `json:"env"`
	}
	s.invokeOK(t, fn, map[string]any{"action": "echo"}, invokeOpts{}).decode(t, &echo)
	for _, name := range []string{"AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_STS"} {
		if got := echo.Env[name]; got != endpoint {
			t.Errorf("%s = %q, want %q", name, got, endpoint)
		}
	}
	targets[net.JoinHostPort(gw, "9061")] = true
	list = append(list, net.JoinHostPort(gw, "9061"))
	url := "http://" + net.JoinHostPort(gw, strconv.Itoa(allowed)) + "/"
	out := probe(t, s, fn, map[string]any{"connect": list, "fetch": []string{url}})
	if o := outcome(t, out, "fetch:"+url); !o.OK || !strings.HasPrefix(fmt.Sprint(o.Value), "hello from the host to "+strings.TrimSuffix(subnet, "0/24")) {
		t.Errorf("fetch %s through the allow rule: %+v, want the server's answer to the env's own address", url, o)
	}
	for hp, want := range targets {
		o := outcome(t, out, "connect:"+hp)
		if o.OK != want {
			t.Errorf("connect %s: ok=%v (%s), want ok=%v", hp, o.OK, o.Error, want)
		}
		if !want && !strings.Contains(o.Error, "refused") {
			t.Errorf("connect %s: %q, want connection refused (at once, not a timeout)", hp, o.Error)
		}
	}
}

// freeTCPPort is a port nothing listens on right now, for a server to open.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// listenAll serves TCP on every host address (the gateway's appears with the
// server) and returns the port; it accepts and closes until the test ends.
func listenAll(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestEgressInternet: with --egress internet a function's connection leaves
// through NAT: a server the test runs in a network namespace of its own on this
// machine (linked to the host by a veth pair, so the host routes to it as to the
// outside) sees the host's address, not the env's; the host's own ports and the
// metadata address stay refused. Both drivers.
func TestEgressInternet(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		hostAddr, serverAddr, seen := outsideServer(t)
		hostPort := listenAll(t)
		subnet := nextEnvSubnet() // none other of this test process has it
		gw := strings.TrimSuffix(subnet, "0/24") + "1"
		s := startSandboxServer(t, driver, "--egress", "internet", "--env-subnet", subnet)
		fn := deploy(t, s, kindPython)
		refusedTargets := []string{
			net.JoinHostPort(gw, strconv.Itoa(hostPort)), // the host, no allow rule
			"169.254.169.254:80",                         // instance metadata
		}
		out := probe(t, s, fn, map[string]any{"connect": append([]string{serverAddr}, refusedTargets...)})
		if o := outcome(t, out, "connect:"+serverAddr); !o.OK {
			t.Errorf("connect %s (a server outside the host's namespace): %s", serverAddr, o.Error)
		} else {
			select {
			case from := <-seen:
				if from != hostAddr {
					t.Errorf("the server saw the connection from %s, want the host's address %s (NAT)", from, hostAddr)
				}
			case <-time.After(5 * time.Second):
				t.Error("the server saw no connection")
			}
		}
		for _, hp := range refusedTargets {
			if o := outcome(t, out, "connect:"+hp); o.OK || !strings.Contains(o.Error, "refused") {
				t.Errorf("connect %s: ok=%v %q, want connection refused", hp, o.OK, o.Error)
			}
		}
	})
}

// outsideServer serves TCP in a network namespace the test creates, linked to the
// host's by a veth pair on a /30 of its own (host side .1, server .2), and returns
// the host side's address, the server's address and the remote address of every
// connection it accepts. Everything is removed when the test ends.
func outsideServer(t *testing.T) (hostAddr, serverAddr string, seen <-chan string) {
	t.Helper()
	ns := netenvtest.NewNS(t)
	// Outside the harness's env subnets (10.214–10.217) and the other tests' 10.213.
	third := rand.IntN(256)
	hostAddr = fmt.Sprintf("10.218.%d.1", third)
	serverIP := fmt.Sprintf("10.218.%d.2", third)
	name := fmt.Sprintf("hte2e%d", rand.IntN(1e6))
	netenvtest.Link(t,
		netenvtest.End{NS: netns.None(), Name: name, Addrs: []string{hostAddr + "/30"}},
		netenvtest.End{NS: ns, Name: "eth0", Addrs: []string{serverIP + "/30"}})
	serverAddr = net.JoinHostPort(serverIP, "8080")
	return hostAddr, serverAddr, netenvtest.Serve(t, ns, serverAddr)
}

// TestEnvSubnetExhausted: when every address of --env-subnet is held by an env (or
// a pre-started one), an invoke that needs a new env gets 429 at once with a
// message that names the subnet — not a hang, not a 500 — and once envs end their
// addresses serve new ones. Both drivers.
func TestEnvSubnetExhausted(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		// A /29: the gateway and a handful of envs.
		sub := strings.Replace(nextEnvSubnet(), ".0/24", ".0/29", 1)
		s := startSandboxServer(t, driver, "--egress", "hearth-only", "--env-subnet", sub, "--idle-ttl", "2s")
		fn := deploy(t, s, kindPython)
		const n = 10
		results := make(chan invokeResult, n)
		for i := 0; i < n; i++ {
			go func() {
				r, err := s.invokeE(fn, map[string]any{"action": "sleep", "seconds": 3}, invokeOpts{timeout: 60 * time.Second})
				if err != nil {
					r = invokeResult{Body: []byte(err.Error())}
				}
				results <- r
			}()
		}
		ok, throttled := 0, 0
		for i := 0; i < n; i++ {
			r := <-results
			switch {
			case r.Status == http.StatusOK && r.FunctionError == "":
				ok++
			case r.Status == http.StatusTooManyRequests && strings.Contains(string(r.Body), "no free address left in the env subnet "+sub):
				throttled++
				if r.Elapsed > 10*time.Second {
					t.Errorf("the 429 took %v: exhaustion must not wait", r.Elapsed)
				}
			default:
				t.Errorf("invoke: %s", r)
			}
		}
		if ok == 0 || throttled == 0 {
			t.Fatalf("%d succeeded and %d were refused for want of an address; want some of each with %d at once in a /29", ok, throttled, n)
		}
		// The addresses come back when envs end (the idle ones are reaped after 2 s).
		eventually(t, 30*time.Second, "an invoke after the envs ended", func() error {
			r, err := s.invokeE(fn, map[string]any{"action": "echo"}, invokeOpts{})
			if err != nil {
				return err
			}
			if r.Status != http.StatusOK {
				return fmt.Errorf("%s", r)
			}
			return nil
		})
	})
}
