package runtimes

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The clients name the SDKs' paths in the sandbox themselves; they must be these.
func TestSDKPathsInClients(t *testing.T) {
	if want := `_SDK_DIR = "` + PythonSDK + `"`; !strings.Contains(string(pythonBootstrap), want) {
		t.Errorf("bootstrap.py does not say %s", want)
	}
	if want := `const BUNDLED_SDK = '` + NodeSDK + `';`; !strings.Contains(string(nodeIndex), want) {
		t.Errorf("index.cjs does not say %s", want)
	}
	for _, family := range []string{FamilyPython, FamilyNode} {
		if _, target, _, ok := SDK(family); !ok || !filepath.IsAbs(target) {
			t.Errorf("SDK(%s) = %q, %v", family, target, ok)
		}
	}
	if _, _, _, ok := SDK(FamilyProvided); ok {
		t.Error("provided runtimes have no bundled SDK")
	}
}

// Lambda's sys.path order: the function, its layers, PYTHONPATH, the bundled SDK,
// the interpreter's own; so what a function or layer ships wins over the SDK.
func TestPythonSysPathOrder(t *testing.T) {
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		t.Skip("no /usr/bin/python3")
	}
	stdlib := []string{"/usr/lib/python311.zip", "/usr/lib/python3.11", "/usr/lib/python3.11/lib-dynload"}
	site := "/usr/lib/python3/dist-packages"
	interp := append(append([]string{}, stdlib...), site)
	type input struct {
		Rest       []string `json:"rest"`
		Versions   []string `json:"versions"`
		PythonPath []string `json:"pythonpath"`
		Dirs       []string `json:"dirs"` // what isdir answers true for
	}
	cases := []struct {
		name string
		in   input
		want []string
	}{
		{"sdk", input{interp, []string{"3.12", "3.11"}, nil, []string{PythonSDK}},
			append([]string{"/var/task", PythonSDK}, interp...)},
		{"no sdk", input{interp, []string{"", "3.11"}, nil, nil},
			append([]string{"/var/task"}, interp...)},
		{"layers", input{interp, []string{"3.12", "3.11"}, nil,
			[]string{PythonSDK, "/opt/python", "/opt/python/lib/python3.12/site-packages", "/opt/python/lib/python3.11/site-packages"}},
			append([]string{"/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python/lib/python3.11/site-packages", "/opt/python", PythonSDK}, interp...)},
		{"pythonpath", input{append([]string{"/var/task/vendor", "/var/task"}, interp...), []string{"3.12", "3.11"},
			[]string{"/var/task/vendor", ""}, []string{PythonSDK}},
			append([]string{"/var/task", "/var/task/vendor", PythonSDK}, interp...)},
		{"sdk on pythonpath", input{append([]string{PythonSDK}, interp...), []string{"3.12", "3.11"},
			[]string{PythonSDK}, []string{PythonSDK}},
			append([]string{"/var/task", PythonSDK}, interp...)},
	}
	for _, c := range cases {
		in, _ := json.Marshal(c.in)
		script := `import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bootstrap", sys.argv[1])
b = importlib.util.module_from_spec(spec)
spec.loader.exec_module(b)
a = json.loads(sys.argv[2])
dirs = set(a["dirs"] or [])
print(json.dumps(b._ordered_sys_path("/var/task", a["rest"], tuple(a["versions"]), a["pythonpath"] or [], lambda d: d in dirs)))
`
		out, err := exec.Command(py, "-S", "-c", script, "python/bootstrap.py", string(in)).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, out)
		}
		var got []string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, out)
		}
		mustEqual(t, c.name, got, c.want)
	}
}
