package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// The "sdk" part: what functions that use the runtime's bundled AWS SDK see, at 128 MB
// (Lambda's default) with the env network on (serve's default, --egress internet):
//   - the cold start of a function importing boto3 / @aws-sdk/client-lambda and
//     making a client at module scope, beside the same runtime's plain function —
//     the difference is the SDK's import, which Hearth's bundling must not add to;
//   - a function invoking another through that SDK, both warm: the call's latency
//     inside the caller (the SDK's signing, the function-facing listener, the
//     callee's warm invoke).

type sdkFunc struct {
	name, label, handler string
	runtime              types.Runtime
	dir                  string // under examples/
}

var sdkFuncs = []sdkFunc{
	{"sdk-plain-py", "Python, plain", "lambda_function.lambda_handler", types.RuntimePython312, "python"},
	{"sdk-boto3-py", "Python, boto3 client at module scope", "lambda_function.lambda_handler", types.RuntimePython312, "sdk-python"},
	{"sdk-plain-js", "Node, plain", "index.handler", types.RuntimeNodejs20x, "node"},
	{"sdk-v3-js", "Node, @aws-sdk/client-lambda client at module scope", "index.handler", types.RuntimeNodejs20x, "sdk-node"},
}

type sdkFigures struct {
	driver string
	cold   map[string][]time.Duration // by sdkFunc.name: client-side latency
	reps   map[string][]reportFigures
	f2f    map[string][]time.Duration // caller → the invoke's latency inside it
	notes  []string
}

func benchSDK(self string, o *invokeBenchOptions, drivers []string) error {
	art, err := buildArtifacts(self, o.fnBootstrap)
	if err != nil {
		return err
	}
	defer art.cleanup()
	root, err := repoRoot(self)
	if err != nil {
		return err
	}
	busy := hostBusy()
	var all []*sdkFigures
	for i, d := range drivers {
		all = append(all, benchSDKDriver(self, d, root, art, o, fmt.Sprintf("10.213.%d.0/24", 240+i)))
	}
	printSDKTables(os.Stdout, o, all, busy)
	return nil
}

func benchSDKDriver(self, driver, root string, art *benchArtifacts, o *invokeBenchOptions, subnet string) *sdkFigures {
	f := &sdkFigures{driver: driver, cold: map[string][]time.Duration{}, reps: map[string][]reportFigures{}, f2f: map[string][]time.Duration{}}
	note := func(format string, args ...any) { f.notes = append(f.notes, fmt.Sprintf(format, args...)) }
	dir, err := os.MkdirTemp("", "hearth-bench-sdk-")
	if err != nil {
		note("%v", err)
		return f
	}
	defer os.RemoveAll(dir)
	progress("sdk, %s: starting hearth serve --egress internet", driver)
	srv, err := startHearth(self, dir, driver, "--idle-ttl", "1s", "--egress", "internet", "--env-subnet", subnet)
	if err != nil {
		note("%v", err)
		return f
	}
	defer srv.stop()
	ctx := context.Background()
	c := newBenchClient(srv.addr, 4)
	const memory = 128
	if err := createBenchFunction(ctx, c, "bench-go", types.RuntimeProvidedal2023, "bootstrap", art.goZip, memory); err != nil {
		note("%v", err)
		return f
	}
	for _, fn := range sdkFuncs {
		zip, err := zipDir(filepath.Join(root, "examples", fn.dir))
		if err == nil {
			err = createBenchFunction(ctx, c, fn.name, fn.runtime, fn.handler, zip, memory)
		}
		if err != nil {
			note("%s: %v", fn.name, err)
			continue
		}
		if o.langCold > 0 {
			progress("sdk, %s: %d cold starts of %s", driver, o.langCold, fn.label)
			f.cold[fn.name], f.reps[fn.name], err = hearthColdStarts(ctx, c, srv, fn.name, o.langCold, []byte(`{}`), checkNoFunctionError)
			if err != nil {
				note("%s cold start: %v", fn.name, err)
			}
		}
	}
	// Both warm: the caller's env and bench-go's stay up between calls (--idle-ttl
	// is 1 s; the calls are back to back).
	n := max(o.warm/10, 50)
	for _, caller := range []string{"sdk-boto3-py", "sdk-v3-js"} {
		progress("sdk, %s: %d function-to-function invokes from %s", driver, n, caller)
		call := func() (time.Duration, error) {
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(caller), Payload: []byte(`{"target":"bench-go","payload":{"hello":"f2f"}}`)})
			if err != nil {
				return 0, apiError(err)
			}
			if err := checkNoFunctionError(out); err != nil {
				return 0, err
			}
			var r struct {
				Status  int             `json:"status"`
				Ms      float64         `json:"invoke_ms"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(out.Payload, &r); err != nil || r.Status != 200 || !strings.Contains(string(r.Payload), "f2f") {
				return 0, fmt.Errorf("the caller answered %s", out.Payload)
			}
			return time.Duration(r.Ms * float64(time.Millisecond)), nil
		}
		var lat []time.Duration
		for i := 0; i < 10+n; i++ {
			d, err := call()
			if err != nil {
				note("%s: %v", caller, err)
				break
			}
			if i >= 10 { // the first calls warm both envs and the SDK's connection
				lat = append(lat, d)
			}
		}
		f.f2f[caller] = lat
	}
	return f
}

func printSDKTables(w io.Writer, o *invokeBenchOptions, all []*sdkFigures, busy string) {
	fmt.Fprintf(w, "\nThe bundled AWS SDKs, 128 MB, --egress internet (host: %s)\n", busy)
	fmt.Fprintf(w, "\nCold start (client-side latency; Init Duration from REPORT), %d each; the SDK's import is the difference to the plain function\n", o.langCold)
	tw := newTable(w)
	fmt.Fprintln(tw, "driver\tfunction\tp50\tp99\tInit Duration p50\tinit − plain")
	for _, f := range all {
		plainInit := map[types.Runtime]time.Duration{}
		for _, fn := range sdkFuncs {
			lat := f.cold[fn.name]
			if len(lat) == 0 {
				continue
			}
			var inits []time.Duration
			for _, r := range f.reps[fn.name] {
				inits = append(inits, r.initDuration)
			}
			init := medianOf(inits)
			diff := "—"
			if p, ok := plainInit[fn.runtime]; ok {
				diff = "+" + fmtDur(init-p)
			} else {
				plainInit[fn.runtime] = init
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.driver, fn.label, fmtDur(medianOf(lat)), fmtDur(percentile(lat, 0.99)), fmtDur(init), diff)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nFunction-to-function Invoke through the bundled SDK, both warm: the call's latency inside the caller")
	tw = newTable(w)
	fmt.Fprintln(tw, "driver\tcaller\tn\tp50\tp99")
	for _, f := range all {
		for _, caller := range []string{"sdk-boto3-py", "sdk-v3-js"} {
			if lat := f.f2f[caller]; len(lat) > 0 {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.driver, caller, len(lat), fmtDur(medianOf(lat)), fmtDur(percentile(lat, 0.99)))
			}
		}
	}
	tw.Flush()
	for _, f := range all {
		for _, n := range f.notes {
			fmt.Fprintf(w, "note (%s): %s\n", f.driver, n)
		}
	}
}
