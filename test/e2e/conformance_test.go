package e2e

// TestConformance replays a table of requests whose answers AWS recorded (or whose
// answers follow from the API model in the form AWS's recorded answers take) and
// requires Hearth's answer to carry the same HTTP status, error code and message.
//
// The table lives in testdata/conformance/*.json, one file per group of operations,
// so that a case reads as the request and the answer, with its source beside it:
// "aws DATE FILE::TEST KEY" for an answer recorded against real AWS (LocalStack's
// @markers.aws.validated snapshots), "model …" for a constraint of the API model,
// "docs URL" for documented text. A mismatch Hearth keeps on purpose says why in
// "deliberate", with the message Hearth answers instead in "hearthMessage"; the
// README lists them. docs/architecture.md ("Answering as AWS answers") describes the
// format and the placeholders.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// conformanceRequest is a request as a case file writes it; one body at most.
type conformanceRequest struct {
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Body       json.RawMessage   `json:"body"`       // JSON, placeholders in its strings
	RawBody    *string           `json:"rawBody"`    // sent as is (malformed JSON, {pad:N})
	BodyBase64 string            `json:"bodyBase64"` // binary
	Headers    map[string]string `json:"headers"`
}

// conformanceCase is one request and the answer AWS gives it.
type conformanceCase struct {
	Name   string            `json:"name"`
	Source string            `json:"source"`
	Setup  []conformanceStep `json:"setup"`
	conformanceRequest
	Status        int     `json:"status"`
	Code          string  `json:"code"`
	Message       *string `json:"message"`
	Deliberate    string  `json:"deliberate"`
	HearthMessage *string `json:"hearthMessage"`
}

// conformanceStep is a request a case needs answered first (2xx), or a shorthand
// for a common one.
type conformanceStep struct {
	conformanceRequest

	Create    string                     `json:"create"`  // CreateFunction of a python function
	With      map[string]json.RawMessage `json:"with"`    // … with these top-level members replaced
	Publish   string                     `json:"publish"` // PublishVersion
	Alias     string                     `json:"alias"`   // CreateAlias on this function …
	AliasName string                     `json:"aliasName"`
	Version   string                     `json:"version"` // … pointing at this version
	Queue     string                     `json:"queue"`   // CreateQueue; its ARN is {queue-arn:NAME}

	// Save names members of the step's answer to use later as {saved:NAME}
	// (e.g. {"uuid": "UUID"} for a mapping the case then names).
	Save map[string]string `json:"save"`
}

const (
	conformanceOtherRegion  = "ap-southeast-1"
	conformanceOtherAccount = "111122223333"
	conformanceRole         = "arn:aws:iam::" + accountID + ":role/lambda-role"
)

// conformanceRun is what every case of a run shares.
type conformanceRun struct {
	s       *server
	zipB64  string
	sha     string
	fn      string            // the shared read-only function
	queues  map[string]string // queue name (as the case wrote it) → ARN
	outcome struct {
		cases, codeStatus, messages, deliberate int
	}
}

func TestConformance(t *testing.T) {
	requireSandboxHost(t, "namespace")
	files, err := filepath.Glob(filepath.Join(testdataDir(t), "conformance", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance case files: %v", err)
	}
	sort.Strings(files)
	// A file that does not parse fails its own group, not the others.
	groups := map[string][]conformanceCase{}
	broken := map[string]error{}
	names := map[string]string{}
	for _, f := range files {
		group := strings.TrimSuffix(filepath.Base(f), ".json")
		cases, err := readConformanceCases(f, group, names)
		if err != nil {
			broken[group] = err
		}
		groups[group] = cases
	}

	s := startServer(t, serverOptions{sandbox: "namespace"})
	run := &conformanceRun{s: s, queues: map[string]string{}}
	zip := pythonZip(t, "conformance")
	run.zipB64 = base64.StdEncoding.EncodeToString(zip)
	run.sha = sha256B64(zip)
	run.fn = uniqueName("conf")
	run.setup(t, conformanceStep{Create: run.fn}, nil)
	run.setup(t, conformanceStep{Publish: run.fn}, nil)
	run.setup(t, conformanceStep{Alias: run.fn, AliasName: "live", Version: "1"}, nil)
	run.setup(t, conformanceStep{Queue: "shared"}, nil)

	order := make([]string, 0, len(groups))
	for g := range groups {
		order = append(order, g)
	}
	sort.Strings(order)
	for _, g := range order {
		t.Run(g, func(t *testing.T) {
			if err := broken[g]; err != nil {
				t.Fatal(err)
			}
			for _, c := range groups[g] {
				t.Run(c.Name, func(t *testing.T) { run.check(t, c) })
			}
		})
	}
	o := run.outcome
	if o.cases > 0 {
		t.Logf("conformance: %d cases; code and status as AWS's: %d (%.1f%%); message identical to AWS's: %d (%.1f%%); deliberate differences: %d",
			o.cases, o.codeStatus, 100*float64(o.codeStatus)/float64(o.cases), o.messages, 100*float64(o.messages)/float64(o.cases), o.deliberate)
	}
}

// readConformanceCases reads one file of cases; names holds every case name seen so
// far and the group it is in.
func readConformanceCases(path, group string, names map[string]string) ([]conformanceCase, error) {
	cases, err := readCaseFile[conformanceCase](path)
	if err != nil {
		return nil, err
	}
	for _, c := range cases {
		if prev, dup := names[c.Name]; dup {
			return nil, fmt.Errorf("case %q is in %s and %s", c.Name, prev, group)
		}
		names[c.Name] = group
		if c.Source == "" || c.Method == "" || c.Path == "" || c.Status == 0 || c.Code == "" {
			return nil, fmt.Errorf("case %q lacks source, method, path, status or code", c.Name)
		}
		if (c.Deliberate == "") != (c.HearthMessage == nil) {
			return nil, fmt.Errorf("case %q: deliberate and hearthMessage go together", c.Name)
		}
	}
	return cases, nil
}

// readCaseFile decodes a file of cases, refusing members the case type does not
// know: a misspelt member would otherwise drop a check without a word.
func readCaseFile[T any](path string) ([]T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return cases, nil
}

// vars are a case's placeholders.
func (run *conformanceRun) vars() map[string]string {
	return map[string]string{
		"{account}":       accountID,
		"{region}":        region,
		"{other-region}":  conformanceOtherRegion,
		"{other-account}": conformanceOtherAccount,
		"{fn}":            run.fn,
		"{own}":           uniqueName("conf-own"),
		"{new}":           uniqueName("conf-new"),
		"{zip}":           run.zipB64,
		"{sha}":           run.sha,
		"{uuid}":          newUUID(),
	}
}

func (run *conformanceRun) expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, k, v)
	}
	for name, arn := range run.queues {
		s = strings.ReplaceAll(s, "{queue-arn:"+name+"}", arn)
	}
	return s
}

var rePad = regexp.MustCompile(`\{pad:(\d+)\}`)

// body is the bytes a request or step sends.
func (run *conformanceRun) body(t *testing.T, rq conformanceRequest, vars map[string]string) []byte {
	t.Helper()
	switch {
	case rq.RawBody != nil:
		// {pad:N} is N bytes of "a", for bodies over a limit.
		return []byte(rePad.ReplaceAllStringFunc(run.expand(*rq.RawBody, vars), func(m string) string {
			n, _ := strconv.Atoi(rePad.FindStringSubmatch(m)[1])
			return strings.Repeat("a", n)
		}))
	case rq.BodyBase64 != "":
		b, err := base64.StdEncoding.DecodeString(rq.BodyBase64)
		if err != nil {
			t.Fatalf("bodyBase64: %v", err)
		}
		return b
	case len(rq.Body) > 0:
		return []byte(run.expand(string(rq.Body), vars))
	}
	return nil
}

func (run *conformanceRun) send(t *testing.T, method, path string, body []byte, headers map[string]string, vars map[string]string) rawResponse {
	t.Helper()
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, run.expand(v, vars))
	}
	return run.s.raw(t, method, run.expand(path, vars), body, rawOptions{header: h})
}

// setup runs one step; functions it creates are deleted when the test ends.
func (run *conformanceRun) setup(t *testing.T, st conformanceStep, vars map[string]string) {
	t.Helper()
	if vars == nil {
		vars = run.vars()
	}
	var (
		method, path string
		body         []byte
	)
	switch {
	case st.Create != "":
		name := run.expand(st.Create, vars)
		doc := map[string]json.RawMessage{}
		put := func(k string, v any) {
			b, _ := json.Marshal(v)
			doc[k] = b
		}
		put("FunctionName", name)
		put("Runtime", "python3.12")
		put("Handler", "lambda_function.lambda_handler")
		put("Role", conformanceRole)
		put("Code", map[string]string{"ZipFile": run.zipB64})
		for k, v := range st.With {
			doc[k] = json.RawMessage(run.expand(string(v), vars))
		}
		b, _ := json.Marshal(doc)
		method, path, body = http.MethodPost, "/2015-03-31/functions", b
		t.Cleanup(func() {
			run.s.raw(t, http.MethodDelete, "/2015-03-31/functions/"+name, nil, rawOptions{})
		})
	case st.Publish != "":
		method, path, body = http.MethodPost, "/2015-03-31/functions/"+run.expand(st.Publish, vars)+"/versions", []byte("{}")
	case st.Alias != "":
		b, _ := json.Marshal(map[string]string{"Name": st.AliasName, "FunctionVersion": st.Version})
		method, path, body = http.MethodPost, "/2015-03-31/functions/"+run.expand(st.Alias, vars)+"/aliases", b
	case st.Queue != "":
		if _, ok := run.queues[st.Queue]; !ok {
			_, url := createQueue(t, run.s.sqsClient(), "conf-"+strings.ToLower(st.Queue), nil)
			run.queues[st.Queue] = "arn:aws:sqs:" + region + ":" + accountID + ":" + url[strings.LastIndex(url, "/")+1:]
		}
		return
	default:
		method, path = st.Method, st.Path
		body = run.body(t, st.conformanceRequest, vars)
	}
	resp := run.send(t, method, path, body, st.Headers, vars)
	if resp.Status/100 != 2 {
		t.Fatalf("setup %s %s: %d %s", method, run.expand(path, vars), resp.Status, resp.Body)
	}
	var answer map[string]any
	_ = json.Unmarshal(resp.Body, &answer)
	if id, ok := answer["UUID"].(string); ok && method == http.MethodPost && strings.HasSuffix(path, "/event-source-mappings") {
		t.Cleanup(func() {
			run.s.raw(t, http.MethodDelete, "/2015-03-31/event-source-mappings/"+id, nil, rawOptions{})
		})
	}
	for name, member := range st.Save {
		v, ok := answer[member]
		if !ok {
			t.Fatalf("setup %s %s: no %s in the answer to save: %s", method, run.expand(path, vars), member, resp.Body)
		}
		vars["{saved:"+name+"}"] = fmt.Sprint(v)
	}
	if st.Create != "" {
		// A new function is Pending until its code is unpacked; PublishVersion and
		// UpdateFunctionCode answer ResourceConflictException until it is Active.
		name := run.expand(st.Create, vars)
		eventually(t, 30*time.Second, name+" Active", func() error {
			r := run.s.raw(t, http.MethodGet, "/2015-03-31/functions/"+name+"/configuration", nil, rawOptions{})
			var cfg struct{ State string }
			_ = json.Unmarshal(r.Body, &cfg)
			if cfg.State != "Active" {
				return fmt.Errorf("%w: %d %s", errNotYet, r.Status, cfg.State)
			}
			return nil
		})
	}
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (run *conformanceRun) check(t *testing.T, c conformanceCase) {
	vars := run.vars()
	for _, st := range c.Setup {
		run.setup(t, st, vars)
	}
	resp := run.send(t, c.Method, c.Path, run.body(t, c.conformanceRequest, vars), c.Headers, vars)
	code := resp.Header.Get("X-Amzn-Errortype")
	code, _, _ = strings.Cut(code, ":")
	var doc struct {
		Message  *string `json:"message"`
		MessageU *string `json:"Message"`
	}
	_ = json.Unmarshal(resp.Body, &doc)
	got := doc.Message
	if got == nil {
		got = doc.MessageU
	}
	run.outcome.cases++
	if resp.Status == c.Status && code == c.Code {
		run.outcome.codeStatus++
	} else {
		t.Errorf("%s %s\n  got  %d %s\n  want %d %s   (%s)", c.Method, run.expand(c.Path, vars), resp.Status, code, c.Status, c.Code, c.Source)
	}
	want := c.Message
	if c.Deliberate != "" {
		want = c.HearthMessage
		run.outcome.deliberate++
	}
	if want != nil {
		w := run.expand(*want, vars)
		want = &w
	}
	same := (want == nil && (got == nil || *got == "")) || (want != nil && got != nil && *got == *want)
	if same && c.Deliberate == "" {
		run.outcome.messages++
	}
	if !same {
		t.Errorf("message of %s %s (%s)\n  got  %s\n  want %s", c.Method, run.expand(c.Path, vars), c.Source, showMsg(got), showMsg(want))
	}
}

func showMsg(s *string) string {
	if s == nil {
		return "(none)"
	}
	return fmt.Sprintf("%q", *s)
}
