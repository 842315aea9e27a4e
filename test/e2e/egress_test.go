package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestEgressHearthOnly: with --egress hearth-only a function reaches Hearth's
// function-facing listener (its AWS_ENDPOINT_URL_LAMBDA) and a server the test runs
// on the host only through the --egress-allow rule for its port, and is refused the
// host's other ports, the metadata address and a denied rule. Namespace
// driver (gVisor envs get their network in a later step). Every address is one the
// test serves on this machine or one nothing answers on; nothing leaves it.
func TestEgressHearthOnly(t *testing.T) {
	requireSandboxHost(t, "namespace")
	allowed, other := listenAll(t), listenAll(t)
	subnet := fmt.Sprintf("10.213.%d.0/24", 100+rand.IntN(150))
	gw := strings.TrimSuffix(subnet, "0/24") + "1"
	s := startSandboxServer(t, "namespace",
		"--egress", "hearth-only", "--env-subnet", subnet,
		"--egress-allow", gw+"/32:"+strconv.Itoa(allowed),
		"--egress-deny", "192.0.2.99/32")
	fn := deploy(t, s, kindPython)
	targets := map[string]bool{
		net.JoinHostPort(gw, strconv.Itoa(allowed)): true,  // the allow rule
		net.JoinHostPort(gw, strconv.Itoa(other)):   false, // the host, no rule
		"169.254.169.254:80":                        false, // instance metadata
		"192.0.2.99:80":                             false, // a deny rule
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
	if got := echo.Env["AWS_ENDPOINT_URL_LAMBDA"]; got != endpoint {
		t.Errorf("AWS_ENDPOINT_URL_LAMBDA = %q, want %q", got, endpoint)
	}
	targets[net.JoinHostPort(gw, "9061")] = true
	list = append(list, net.JoinHostPort(gw, "9061"))
	out := probe(t, s, fn, map[string]any{"connect": list})
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
