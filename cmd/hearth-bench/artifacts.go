package main

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// The functions the invoke benchmark deploys, built once per run into a temp dir.
type benchArtifacts struct {
	dir       string // temp dir; removed by cleanup
	bootstrap string // the no-op Go function (aws-lambda-go), static
	goZip     []byte // bootstrap, zipped
	pyZip     []byte // examples/python
	nodeZip   []byte // examples/node
}

const hearthModule = "module github.com/hearthfn/hearth"

// repoRoot finds this repository's source (for cmd/hearth-bench/benchfn and examples/):
// upwards from the working directory, then from the hearth binary (bin/hearth).
func repoRoot(self string) (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	starts = append(starts, filepath.Dir(self))
	for _, d := range starts {
		for {
			b, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), hearthModule) {
				return d, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", errors.New("cannot find the hearth source tree (run hearth-bench from the repository, or pass --fn-bootstrap)")
}

// goTool is the go command: PATH first, then this binary's toolchain.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func buildArtifacts(self, prebuilt string) (*benchArtifacts, error) {
	dir, err := os.MkdirTemp("", "hearth-bench-fn-")
	if err != nil {
		return nil, err
	}
	a := &benchArtifacts{dir: dir, bootstrap: filepath.Join(dir, "bootstrap")}
	fail := func(err error) (*benchArtifacts, error) {
		a.cleanup()
		return nil, err
	}
	root, rootErr := repoRoot(self)
	if prebuilt != "" {
		b, err := os.ReadFile(prebuilt)
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(a.bootstrap, b, 0o755); err != nil {
			return fail(err)
		}
	} else {
		if rootErr != nil {
			return fail(rootErr)
		}
		cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", a.bootstrap, "./cmd/hearth-bench/benchfn")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fail(fmt.Errorf("build the benchmark function: %v\n%s", err, out))
		}
	}
	bin, err := os.ReadFile(a.bootstrap)
	if err != nil {
		return fail(err)
	}
	if a.goZip, err = zipFiles(map[string][]byte{"bootstrap": bin}, "bootstrap"); err != nil {
		return fail(err)
	}
	if rootErr == nil {
		if a.pyZip, err = zipDir(filepath.Join(root, "examples", "python")); err != nil {
			return fail(err)
		}
		if a.nodeZip, err = zipDir(filepath.Join(root, "examples", "node")); err != nil {
			return fail(err)
		}
	}
	return a, nil
}

func (a *benchArtifacts) cleanup() { _ = os.RemoveAll(a.dir) }

// zipDir zips the regular files directly in dir.
func zipDir(dir string) ([]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = b
	}
	return zipFiles(files, "")
}

// zipFiles builds a deployment package; exe is made executable.
func zipFiles(files map[string][]byte, exe string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := os.FileMode(0o644)
		if name == exe {
			mode = 0o755
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
