//go:build unix

package codezip

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Sandboxes read the package as another user, so modes must not depend on the
// worker's umask.
func TestExtractIgnoresUmask(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o077))
	data := mkzip(t, ent{name: "bootstrap", body: "#!/bin/sh", mode: 0o700}, ent{name: "lib/a.txt", body: "a", mode: 0o600})
	_, dir, _, err := extractTo(t, data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"bootstrap": 0o755, "lib": fs.ModeDir | 0o755, "lib/a.txt": 0o644} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
}
