package agent_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
)

// TestRuntimeIdentity: with a uid and gid in Init, hearth-init (root here, as in a
// sandbox) starts the runtime as that identity with no capabilities and no
// supplementary groups; the runtime can still reopen its own stdout and stderr
// (/dev/stderr), and can neither signal hearth-init nor open its descriptors.
func TestRuntimeIdentity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching the runtime's uid needs root")
	}
	script := `echo "ids $(id -u) $(id -g) $(id -G)"
grep -E '^Cap(Inh|Prm|Eff|Amb):' /proc/self/status
echo via-path >/dev/stderr
kill -TERM $PPID 2>/dev/null; echo "kill=$?"
true 2>/dev/null >/proc/$PPID/fd/1; echo "fd=$?"
exit 0`
	e := startEnv(t, agentproto.Init{Cmd: []string{"/bin/sh", "-c", script}, Dir: "/", UID: 993, GID: 993, InitTimeoutMs: 10000})
	var ie agentproto.InitError
	e.expect(agentproto.KindInitError, &ie)
	if ie.ErrorType != "Runtime.ExitError" || ie.Message != "Runtime exited without providing a reason" {
		t.Fatalf("%+v; logs:\n%s", ie, e.logText())
	}
	out := map[string]string{}
	sawStderr := false
	for _, l := range e.logs {
		if l.Stream == "stderr" {
			sawStderr = sawStderr || l.Text == "via-path\n"
			continue
		}
		f := strings.Fields(l.Text)
		if len(f) == 0 {
			continue
		}
		if k, v, ok := strings.Cut(f[0], "="); ok {
			out[k] = v
			continue
		}
		out[strings.TrimSuffix(f[0], ":")] = strings.Join(f[1:], " ")
	}
	if out["ids"] != "993 993 993" {
		t.Errorf("runtime ids (uid gid groups) = %q, want 993 993 993; logs:\n%s", out["ids"], e.logText())
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
		if strings.Trim(out[k], "0") != "" || out[k] == "" {
			t.Errorf("runtime %s = %q, want 0", k, out[k])
		}
	}
	if !sawStderr {
		t.Errorf("the runtime could not write /dev/stderr by path; logs:\n%s", e.logText())
	}
	if out["kill"] == "0" || out["fd"] == "0" {
		t.Errorf("the runtime reached hearth-init: kill=%s fd=%s", out["kill"], out["fd"])
	}
	if code := e.end(3 * time.Second); code != 0 {
		t.Fatalf("hearth-init exited %d", code)
	}
}
