// Package runtimes knows how to start each Lambda runtime Hearth supports inside a
// sandbox: which program hearth-init runs, with which arguments, and which files
// (Hearth's own runtime interface clients) it needs in /var/runtime.
//
// Managed runtimes run on the host's interpreters, which a sandbox sees through its
// read-only /usr, /bin, /sbin and /lib* mounts (sandbox.HostBase). The clients are
// Hearth's own, in this package: python/bootstrap.py and node/index.cjs. They speak
// the Lambda Runtime API to hearth-init exactly as AWS's clients do, and keep AWS's
// handler rules, context objects and error shapes.
//
// A function may ask for a version the host does not have (python3.12 on a host with
// Python 3.11). It then runs on the host's interpreter of the same family; the client
// says so once on stderr at start-up, and InterpreterVersion tells callers the same.
package runtimes

import (
	"bytes"
	"context"
	_ "embed" // the clients
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Families, as control.RuntimeFamily names them.
const (
	FamilyPython   = "python"
	FamilyNode     = "node"
	FamilyProvided = "provided"
)

// Dir is where the runtime's Files are placed inside the sandbox.
const Dir = "/var/runtime"

// The bundled AWS SDKs, as AWS's runtimes carry them (boto3 for python, the SDK for
// JavaScript v3 for nodejs). `make sdk` installs them next to the binaries, in a
// directory named SDKDir; each family's part is bind-mounted read-only at its
// SDKTarget in every sandbox of that family. They are found only when imported:
// nothing is read on the cold start of a function that does not import them.
const (
	// SDKDir is the directory next to hearth-init that holds the SDKs.
	SDKDir = "sdk"
	// PythonSDK is the python SDK's sys.path entry. bootstrap.py puts it after the
	// function's own code and layers and before the standard library, the order of
	// Lambda's sys.path (/var/task, /opt/python/lib/pythonX.Y/site-packages,
	// /opt/python, the runtime's packages, the standard library).
	PythonSDK = "/var/sdk/python"
	// NodeSDK is the nodejs SDK's node_modules. It is an ancestor directory of
	// /var/task, so ES modules find it (Node's ES module resolution walks up
	// node_modules directories and ignores NODE_PATH, which AWS's runtimes patch it
	// to read). Dir/node_modules is a link to it, so CommonJS reaches it through
	// NODE_PATH as on AWS, after the function's own node_modules and its layers'
	// (index.cjs keeps CommonJS from finding it as an ancestor first).
	NodeSDK = "/var/node_modules"
)

// SDK returns, for a runtime family, the bundled SDK's directory under SDKDir
// ("python" or "node/node_modules"), its mount target in the sandbox and a file
// that exists when it is installed; ok is false for families without one.
func SDK(family string) (hostDir, target, probe string, ok bool) {
	switch family {
	case FamilyPython:
		return "python", PythonSDK, "boto3/__init__.py", true
	case FamilyNode:
		return "node/node_modules", NodeSDK, "@aws-sdk/client-lambda/package.json", true
	}
	return "", "", "", false
}

// The clients, shared by every Runtime that Lookup returns.
var (
	//go:embed python/bootstrap.py
	pythonBootstrap []byte
	//go:embed node/index.cjs
	nodeIndex []byte
)

// Runtime is what it takes to start one runtime in a sandbox.
type Runtime struct {
	// Name is the Lambda runtime identifier, e.g. "python3.12".
	Name string
	// Family is "python", "node" or "provided".
	Family string
	// Cmd is the argv hearth-init executes inside the sandbox (Cmd[0] is a path).
	Cmd []string
	// Files are placed in Dir (/var/runtime), keyed by file name relative to it.
	// The byte slices are shared: read them, do not modify them.
	Files map[string][]byte
	// Interpreter is the host path of the interpreter Cmd runs ("" for provided
	// runtimes). Symbolic links are resolved, and it lies under /usr, /bin or /sbin,
	// so the same path works inside the sandbox.
	Interpreter string
}

type family struct {
	name       string
	what       string            // for messages: "a Python 3 interpreter"
	candidates []string          // fixed host paths, in order of preference
	args       []string          // Cmd is the interpreter followed by these
	files      map[string][]byte // the client's files, by name in Dir
}

var families = map[string]*family{
	FamilyPython: {
		name:       FamilyPython,
		what:       "a Python 3 interpreter",
		candidates: []string{"/usr/bin/python3", "/usr/local/bin/python3"},
		// -S: site's start-up runs every .pth file of the host's site directories on
		// each cold start (4 of 25 ms measured on a Debian host; more with more .pth
		// files); bootstrap.py puts those directories back on sys.path, without the hooks.
		// Lookup swaps bootstrap.py for its precompiled bootstrap.pyc when it can.
		// -u: stdout and stderr unbuffered, so each print reaches the log at once,
		// within the invocation that printed it (AWS's client flushes every write too).
		// Not -E or -I: PYTHONPATH and the other PYTHON* variables of the function's
		// configuration apply, as on AWS.
		args:  []string{"-S", "-u", Dir + "/bootstrap.py"},
		files: map[string][]byte{"bootstrap.py": pythonBootstrap},
	},
	FamilyNode: {
		name:       FamilyNode,
		what:       "a Node.js interpreter",
		candidates: []string{"/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"},
		// A CommonJS entry point: an ES module one starts Node's ESM loader first, about
		// 10 ms more per cold start here; ES module handlers are loaded with import().
		args:  []string{Dir + "/index.cjs"},
		files: map[string][]byte{"index.cjs": nodeIndex},
	},
	FamilyProvided: {name: FamilyProvided},
}

// runtimeFamilies lists the runtimes Hearth runs (the same set as control's).
var runtimeFamilies = map[string]string{
	"python3.9": FamilyPython, "python3.10": FamilyPython, "python3.11": FamilyPython,
	"python3.12": FamilyPython, "python3.13": FamilyPython, "python3.14": FamilyPython,
	"nodejs18.x": FamilyNode, "nodejs20.x": FamilyNode, "nodejs22.x": FamilyNode,
	"provided": FamilyProvided, "provided.al2": FamilyProvided, "provided.al2023": FamilyProvided,
}

// sandboxVisible are the host directories a sandbox mounts that may hold programs.
var sandboxVisible = []string{"/usr/", "/bin/", "/sbin/"}

// ErrUnknownRuntime matches (errors.Is) the errors for runtimes Hearth does not run.
var ErrUnknownRuntime = errors.New("unknown runtime")

// ErrNoInterpreter matches (errors.Is) the errors for runtimes whose family has no
// usable interpreter on this host.
var ErrNoInterpreter = errors.New("no interpreter")

// runtimeError carries a message written for people and a sentinel for code.
type runtimeError struct {
	msg  string
	kind error
}

func (e *runtimeError) Error() string        { return e.msg }
func (e *runtimeError) Is(target error) bool { return target == e.kind }

// Lookup returns how to start runtime name in a sandbox. It fails for runtimes
// Hearth does not run (errors.Is ErrUnknownRuntime) and, with Check's message, when
// the host has no interpreter for the runtime's family (errors.Is ErrNoInterpreter).
// The first Lookup of a python runtime runs the interpreter once to compile the
// client (see pythonBytecode); later ones reuse the result.
func Lookup(name string) (Runtime, error) {
	fam, err := familyOf(name)
	if err != nil {
		return Runtime{}, err
	}
	rt := Runtime{Name: name, Family: fam.name}
	if fam.name == FamilyProvided {
		// Lambda runs the function's own bootstrap executable for custom runtimes.
		rt.Cmd = []string{"/var/task/bootstrap"}
		return rt, nil
	}
	interp, err := resolve(name, fam)
	if err != nil {
		return Runtime{}, err
	}
	rt.Interpreter = interp
	rt.Cmd = append([]string{interp}, fam.args...)
	rt.Files = make(map[string][]byte, len(fam.files)+1)
	for f, b := range fam.files {
		rt.Files[f] = b
	}
	if fam.name == FamilyPython {
		// Python compiles the script it is given on every start (it never caches the
		// main script's bytecode), and compiling bootstrap.py is about a third of the
		// client's cold start. So the host's interpreter compiles it once, here, and the
		// sandbox runs the bytecode; the source stays beside it for tracebacks. Without
		// bytecode (the compile failed) the source runs as it is.
		if pyc := pythonBytecode(interp, rt.Files["bootstrap.py"]); pyc != nil {
			rt.Files["bootstrap.pyc"] = pyc
			rt.Cmd[len(rt.Cmd)-1] = Dir + "/bootstrap.pyc"
		}
	}
	return rt, nil
}

// compileScript writes, to stdout, bootstrap.py (read from stdin) as a .pyc file
// that the interpreter runs directly: a PEP 552 header (magic, flags 0b01 for an
// unchecked hash-based pyc, the source hash) and the marshalled code. The code's
// file name is the path the source has in the sandbox.
const compileScript = `import sys, marshal, importlib.util
src = sys.stdin.buffer.read()
code = compile(src, "` + Dir + `/bootstrap.py", "exec", dont_inherit=True)
sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + importlib.util.source_hash(src) + marshal.dumps(code))
`

type bytecodeEntry struct {
	once sync.Once
	pyc  []byte
}

var (
	bytecodeMu sync.Mutex
	bytecodes  = map[string]*bytecodeEntry{}
)

// pythonBytecode returns bootstrap.py compiled by interp, or nil when that fails.
// It is compiled once per interpreter file: the key has its size and modification
// time, so an upgraded interpreter (whose bytecode format may differ) gets a fresh
// compile.
func pythonBytecode(interp string, src []byte) []byte {
	fi, err := os.Stat(interp)
	if err != nil {
		return nil
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", interp, fi.Size(), fi.ModTime().UnixNano())
	bytecodeMu.Lock()
	e, ok := bytecodes[key]
	if !ok {
		e = &bytecodeEntry{}
		bytecodes[key] = e
	}
	bytecodeMu.Unlock()
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, interp, "-S", "-c", compileScript)
		cmd.Env = []string{}
		cmd.Stdin = bytes.NewReader(src)
		out, err := cmd.Output()
		if err == nil && len(out) > 16 {
			e.pyc = out
		}
	})
	return e.pyc
}

// Check reports whether runtime name can run on this host: nil when it can, an
// error naming the runtime and the paths that were tried when its family has no
// interpreter here (errors.Is ErrNoInterpreter), or one that errors.Is
// ErrUnknownRuntime for a runtime Hearth does not run.
func Check(name string) error {
	fam, err := familyOf(name)
	if err != nil {
		return err
	}
	if fam.name == FamilyProvided {
		return nil
	}
	_, err = resolve(name, fam)
	return err
}

// InterpreterVersion returns the version of the host interpreter that runs runtime
// name, e.g. "3.11.2" for a python runtime or "20.20.2" for a nodejs one; "" for
// provided runtimes. The interpreter is asked once per path, then the answer is
// cached.
func InterpreterVersion(name string) (string, error) {
	fam, err := familyOf(name)
	if err != nil {
		return "", err
	}
	if fam.name == FamilyProvided {
		return "", nil
	}
	interp, err := resolve(name, fam)
	if err != nil {
		return "", err
	}
	versionMu.Lock()
	e, ok := versions[interp]
	if !ok {
		e = &versionEntry{}
		versions[interp] = e
	}
	versionMu.Unlock()
	e.once.Do(func() { e.version, e.err = askVersion(interp) })
	return e.version, e.err
}

type versionEntry struct {
	once    sync.Once
	version string
	err     error
}

var (
	versionMu sync.Mutex
	versions  = map[string]*versionEntry{}
)

func askVersion(interp string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// An empty environment: the host's PYTHON*/NODE_* variables must not change the answer.
	cmd := exec.CommandContext(ctx, interp, "--version")
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w: %s", interp, err, strings.TrimSpace(string(out)))
	}
	// "Python 3.11.2" or "v20.20.2".
	v := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(v, ' '); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimPrefix(v, "v"), nil
}

func familyOf(name string) (*family, error) {
	f, ok := runtimeFamilies[name]
	if !ok {
		return nil, &runtimeError{fmt.Sprintf("runtime %q is not one Hearth runs", name), ErrUnknownRuntime}
	}
	return families[f], nil
}

// resolve finds the family's interpreter among its fixed candidates. PATH is not
// searched: the sandbox has no PATH of ours, and a PATH entry may be a shim or a
// home directory the sandbox cannot see. Each candidate's symbolic links are
// followed, and the target must lie in a directory the sandbox mounts.
func resolve(name string, fam *family) (string, error) {
	var notes []string
	for _, c := range fam.candidates {
		target, err := filepath.EvalSymlinks(c)
		if err != nil {
			continue
		}
		if !visibleInSandbox(target) {
			notes = append(notes, fmt.Sprintf("%s resolves to %s, which a sandbox cannot see (only /usr, /bin, /sbin and /lib* are mounted)", c, target))
			continue
		}
		fi, err := os.Stat(target)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			notes = append(notes, fmt.Sprintf("%s is not an executable file", target))
			continue
		}
		return target, nil
	}
	msg := fmt.Sprintf("runtime %s needs %s; none was found at %s", name, fam.what, orList(fam.candidates))
	if len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	return "", &runtimeError{msg, ErrNoInterpreter}
}

func visibleInSandbox(p string) bool {
	for _, d := range sandboxVisible {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

func orList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
