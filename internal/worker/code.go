package worker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hearthfn/hearth/internal/codezip"
	"github.com/hearthfn/hearth/internal/runtimes"
)

// codeCache unpacks each zip once per worker, named by its digest; every env of that
// code mounts the same directory read-only.
type codeCache struct {
	dir    string
	source CodeSource
	mu     sync.Mutex
	flight map[string]*sync.Mutex
}

func (c *codeCache) lock(key string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.flight[key]
	if !ok {
		m = &sync.Mutex{}
		c.flight[key] = m
	}
	return m
}

// path returns the unpacked code directory, unpacking it first if needed.
func (c *codeCache) path(ctx context.Context, sha256Hex string) (string, error) {
	dst := filepath.Join(c.dir, sha256Hex)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	m := c.lock(sha256Hex)
	m.Lock()
	defer m.Unlock()
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	zip, err := c.source.Code(ctx, sha256Hex)
	if err != nil {
		return "", fmt.Errorf("fetch code %s: %w", sha256Hex, err)
	}
	tmp, err := os.MkdirTemp(c.dir, ".unpack-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if _, err := codezip.Extract(zip, tmp, codezip.DefaultLimits()); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpack code %s: %w", sha256Hex, err)
	}
	// Rename makes the directory appear whole or not at all.
	if err := os.Rename(tmp, dst); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return dst, nil
}

// runtimeDirs prepares one /var/runtime per runtime: hearth-init and the runtime
// interface client's files.
type runtimeDirs struct {
	dir      string
	initPath string
	mu       sync.Mutex
	ready    map[string]string
}

func (r *runtimeDirs) path(rt runtimes.Runtime) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.ready[rt.Name]; ok {
		return p, nil
	}
	dst := filepath.Join(r.dir, rt.Name)
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	init, err := os.ReadFile(r.initPath)
	if err != nil {
		return "", fmt.Errorf("read hearth-init at %s: %w", r.initPath, err)
	}
	if err := os.WriteFile(filepath.Join(dst, "hearth-init"), init, 0o755); err != nil {
		return "", err
	}
	for name, b := range rt.Files {
		p := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", err
		}
	}
	r.ready[rt.Name] = dst
	return dst, nil
}
