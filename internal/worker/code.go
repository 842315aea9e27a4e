package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hearthfn/hearth/internal/codezip"
	"github.com/hearthfn/hearth/internal/runtimes"
	"github.com/hearthfn/hearth/internal/sandbox"
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
		c.touch(dst)
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

// touch marks code as just used, so prune leaves it alone for a while: a version
// created after prune read the registry may already be starting envs on it.
func (c *codeCache) touch(dir string) {
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
}

// pruneGrace is how long code unpacked or used last stays, whatever the registry says.
const pruneGrace = 10 * time.Second

// prune removes unpacked code that keep does not want (no function or version uses
// it, no env runs it) and that was not used within pruneGrace, and unpack
// directories a crash left behind. waiting counts what is unwanted but too recent.
func (c *codeCache) prune(keep func(sha256Hex string) bool) (removed, waiting int, err error) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		name := e.Name()
		info, err := e.Info()
		if err != nil {
			continue
		}
		if time.Since(info.ModTime()) < pruneGrace {
			if strings.HasPrefix(name, ".unpack-") || !keep(name) {
				waiting++
			}
			continue
		}
		if strings.HasPrefix(name, ".unpack-") {
			// Half-unpacked by a process that died; a live unpack is younger than the grace
			// or holds its key's lock, and renames its directory away when done.
			if os.RemoveAll(filepath.Join(c.dir, name)) == nil {
				removed++
			}
			continue
		}
		if keep(name) {
			continue
		}
		m := c.lock(name)
		m.Lock()
		err = os.RemoveAll(filepath.Join(c.dir, name))
		m.Unlock()
		if err != nil {
			return removed, waiting, err
		}
		removed++
	}
	return removed, waiting, nil
}

// runtimeDirs prepares one /var/runtime per runtime: hearth-init and the runtime
// interface client's files. It also knows the bundled AWS SDKs (runtimes.SDK), which
// `make sdk` puts next to hearth-init and every sandbox of their family mounts.
type runtimeDirs struct {
	dir      string
	initPath string
	sdk      map[string]sandbox.Mount // by runtime family, only those installed
	mu       sync.Mutex
	ready    map[string]string
}

// newRuntimeDirs prepares runtime directories under dir. A missing SDK is one
// warning now, not an error: functions run without it (as they do on AWS when they
// bring their own).
func newRuntimeDirs(dir, initPath string, log *slog.Logger) *runtimeDirs {
	sdkRoot := filepath.Join(filepath.Dir(initPath), runtimes.SDKDir)
	sdk, missing := findSDKs(sdkRoot)
	if len(missing) > 0 {
		log.Warn("bundled AWS SDK not installed; functions can import only the SDK they ship (make sdk installs it)",
			"dir", sdkRoot, "missing", strings.Join(missing, ", "))
	}
	return &runtimeDirs{dir: dir, initPath: initPath, sdk: sdk, ready: map[string]string{}}
}

// findSDKs returns the mounts of the SDKs installed under root, by family, and the
// families whose SDK is missing.
func findSDKs(root string) (map[string]sandbox.Mount, []string) {
	sdk := map[string]sandbox.Mount{}
	var missing []string
	for _, family := range []string{runtimes.FamilyPython, runtimes.FamilyNode} {
		hostDir, target, probe, _ := runtimes.SDK(family)
		src := filepath.Join(root, filepath.FromSlash(hostDir))
		if _, err := os.Stat(filepath.Join(src, filepath.FromSlash(probe))); err != nil {
			missing = append(missing, family)
			continue
		}
		// Resolved once, so drivers mount the directory itself (e2e links bin/sdk).
		if real, err := filepath.EvalSymlinks(src); err == nil {
			src = real
		}
		if abs, err := filepath.Abs(src); err == nil {
			src = abs
		}
		sdk[family] = sandbox.Mount{Source: src, Target: target, ReadOnly: true}
	}
	return sdk, missing
}

// sdkMounts are the mounts of rt's bundled SDK (none when it has none here).
func (r *runtimeDirs) sdkMounts(rt runtimes.Runtime) []sandbox.Mount {
	if m, ok := r.sdk[rt.Family]; ok {
		return []sandbox.Mount{m}
	}
	return nil
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
	if _, ok := r.sdk[runtimes.FamilyNode]; ok && rt.Family == runtimes.FamilyNode {
		// AWS's layout: the SDK in /var/runtime/node_modules, on NODE_PATH.
		if err := os.Symlink(runtimes.NodeSDK, filepath.Join(dst, "node_modules")); err != nil {
			return "", err
		}
	}
	r.ready[rt.Name] = dst
	return dst, nil
}
