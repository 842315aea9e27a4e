package worker

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearthfn/hearth/internal/runtimes"
	"github.com/hearthfn/hearth/internal/sandbox"
)

// The bundled SDKs are found next to hearth-init; each family's sandboxes mount
// theirs; a missing one is one warning at start, and its functions still run.
func TestRuntimeDirsSDK(t *testing.T) {
	bin := t.TempDir()
	initPath := filepath.Join(bin, "hearth-init")
	if err := os.WriteFile(initPath, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	r := newRuntimeDirs(t.TempDir(), initPath, log)
	if !strings.Contains(logs.String(), "bundled AWS SDK not installed") || !strings.Contains(logs.String(), "python, node") {
		t.Errorf("no warning for the missing SDKs: %q", logs.String())
	}
	py := runtimes.Runtime{Name: "python3.12", Family: runtimes.FamilyPython}
	node := runtimes.Runtime{Name: "nodejs20.x", Family: runtimes.FamilyNode}
	if m := r.sdkMounts(py); len(m) != 0 {
		t.Errorf("mounts without an SDK: %v", m)
	}
	dir, err := r.path(node)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "node_modules")); err == nil {
		t.Error("node_modules link without an SDK")
	}

	// Installed: bin/sdk/python/boto3, bin/sdk/node/node_modules/@aws-sdk/client-lambda.
	for _, f := range []string{"sdk/python/boto3/__init__.py", "sdk/node/node_modules/@aws-sdk/client-lambda/package.json"} {
		p := filepath.Join(bin, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs.Reset()
	r = newRuntimeDirs(t.TempDir(), initPath, log)
	if logs.Len() != 0 {
		t.Errorf("warned with the SDKs installed: %q", logs.String())
	}
	mustMounts(t, r.sdkMounts(py), sandbox.Mount{Source: filepath.Join(bin, "sdk", "python"), Target: runtimes.PythonSDK, ReadOnly: true})
	mustMounts(t, r.sdkMounts(node), sandbox.Mount{Source: filepath.Join(bin, "sdk", "node", "node_modules"), Target: runtimes.NodeSDK, ReadOnly: true})
	mustMounts(t, r.sdkMounts(runtimes.Runtime{Name: "provided.al2023", Family: runtimes.FamilyProvided}))
	dir, err = r.path(node)
	if err != nil {
		t.Fatal(err)
	}
	if link, err := os.Readlink(filepath.Join(dir, "node_modules")); err != nil || link != runtimes.NodeSDK {
		t.Errorf("/var/runtime/node_modules links to %q (%v), want %s", link, err, runtimes.NodeSDK)
	}
	dir, err = r.path(py)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "node_modules")); err == nil {
		t.Error("a python runtime dir has node_modules")
	}
}

func mustMounts(t *testing.T, got []sandbox.Mount, want ...sandbox.Mount) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("mounts %v, want %v", got, want)
	}
	for i := range got {
		w := want[i]
		if real, err := filepath.EvalSymlinks(w.Source); err == nil {
			w.Source = real
		}
		if got[i] != w {
			t.Errorf("mount %v, want %v", got[i], w)
		}
	}
}
