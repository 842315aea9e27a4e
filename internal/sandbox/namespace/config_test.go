//go:build linux

package namespace

import (
	"reflect"
	"testing"

	"github.com/hearthfn/hearth/internal/sandbox"
)

func TestChildConfigRoundTrip(t *testing.T) {
	in := childConfig{
		Root: "/run/hearth/root", Hostname: "sb-1",
		Mounts: []childMount{
			{Mount: sandbox.Mount{Source: "/usr", Target: "/usr", ReadOnly: true}, Base: true},
			{Mount: sandbox.Mount{Source: "/data/code é", Target: "/var/task"}},
		},
		TmpMB: 512, NoFile: 1024, UID: 993, GID: 993,
		Init: "/var/runtime/init", Args: []string{"init", ""}, Env: []string{"A=1", "B=ü"},
	}
	var out childConfig
	if err := out.unmarshal(in.marshal()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n%+v\n%+v", in, out)
	}
	b := in.marshal()
	for i := 0; i < len(b); i++ {
		var c childConfig
		if err := c.unmarshal(b[:i]); err == nil {
			t.Fatalf("truncated at %d/%d decoded without error", i, len(b))
		}
	}
}

func FuzzChildConfig(f *testing.F) {
	f.Add((&childConfig{Root: "/r", Args: []string{"a"}}).marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		var c childConfig
		if c.unmarshal(b) == nil {
			var d childConfig
			if err := d.unmarshal(c.marshal()); err != nil || !reflect.DeepEqual(c, d) {
				t.Fatalf("re-encode: %v", err)
			}
		}
	})
}
