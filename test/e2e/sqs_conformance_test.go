package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestSQSConformance checks Hearth's SQS errors against AWS's: every case of
// testdata/conformance/sqs/*.json names a request, where AWS's answer to it comes
// from (a recorded answer, the model or the docs) and the status, code and message
// AWS answers, in the JSON protocol (`__type`, x-amzn-query-error) or the query
// protocol (<ErrorResponse><Error>…).
//
// A case:
//
//	{
//	  "name":      "ReceiveMessage: MaxNumberOfMessages 11 (json)",  // unique
//	  "source":    "aws 2024-04-30 test_sqs.py::TestSqsProvider::test_…[sqs] send_max_number_of_messages",
//	  "protocol":  "json" | "query",
//	  "setup":     [step, …],           // optional, in order, each must succeed
//	  "operation": "ReceiveMessage",
//	  "params":    {…},                 // json: the request body
//	  "form":      {"QueueUrl": "…"},   // query: the form fields besides Action and Version
//	  "method":    "GET",               // query only: default POST
//	  "path":      "{queue-path:q}",    // query only: default "/"
//	  "status":    400,
//	  "type":      "InvalidParameterValueException", // json: `__type` after "com.amazonaws.sqs#"
//	  "code":      "InvalidParameterValue",          // x-amzn-query-error's code, or <Code>
//	  "fault":     "Sender",            // default Sender
//	  "message":   "…",                 // exact after substitution; null: none
//	  "entry":     {"id", "code", "message", "senderFault"}, // a 200 batch answer's failed entry instead
//	  "deliberate": "why", "hearthMessage": "…"               // a difference kept on purpose
//	}
//
// Steps: {"queue": "q", "attributes": {…}} creates a queue of a unique name (one
// ending in .fifo keeps that suffix); {"op": "SendMessage", "params": {…}} is a
// JSON request that must answer 200; {"receive": "q", "handle": "h"} receives one
// message of q and keeps its receipt handle; {"deleteQueue": "q"}.
//
// Placeholders: {account}, {region}, {queue:q} (q's name), {queue-url:q},
// {queue-path:q} (/ACCOUNT/NAME), {queue-arn:q}, {new} (a name nobody creates),
// {handle:h}, {repeat:C:N} (N times the character C).
func TestSQSConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdataDir(t), "conformance", "sqs", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no SQS conformance case files: %v", err)
	}
	sort.Strings(files)
	names := map[string]bool{}
	type group struct {
		name  string
		cases []sqsConfCase
		err   error
	}
	var groups []group
	for _, f := range files {
		cases, err := readSQSConfCases(f, names)
		groups = append(groups, group{strings.TrimSuffix(filepath.Base(f), ".json"), cases, err})
	}
	s := sharedServer(t)
	total, passed := 0, 0
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			if g.err != nil {
				t.Fatal(g.err)
			}
			for _, c := range g.cases {
				total++
				ok := t.Run(c.Name, func(t *testing.T) { sqsConfRun(t, s, c) })
				if ok {
					passed++
				}
			}
		})
	}
	t.Logf("SQS conformance: %d of %d cases as AWS answers", passed, total)
}

type sqsConfCase struct {
	Name          string            `json:"name"`
	Source        string            `json:"source"`
	Protocol      string            `json:"protocol"`
	Setup         []sqsConfStep     `json:"setup"`
	Operation     string            `json:"operation"`
	Params        json.RawMessage   `json:"params"`
	Form          map[string]string `json:"form"`
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	Status        int               `json:"status"`
	Type          string            `json:"type"`
	Code          string            `json:"code"`
	Fault         string            `json:"fault"`
	Message       *string           `json:"message"`
	Entry         *sqsConfEntry     `json:"entry"`
	Deliberate    string            `json:"deliberate"`
	HearthMessage *string           `json:"hearthMessage"`
}

type sqsConfEntry struct {
	ID          string `json:"id"`
	Code        string `json:"code"`
	Message     string `json:"message"`
	SenderFault bool   `json:"senderFault"`
}

type sqsConfStep struct {
	Queue       string            `json:"queue"`
	Attributes  map[string]string `json:"attributes"`
	Op          string            `json:"op"`
	Params      json.RawMessage   `json:"params"`
	Receive     string            `json:"receive"`
	Handle      string            `json:"handle"`
	DeleteQueue string            `json:"deleteQueue"`
}

var sqsConfSourceRE = regexp.MustCompile(`^(aws \d{4}-\d{2}-\d{2} \S+::\S+ \S+|model \S+: .+|docs https://\S+)$`)

func readSQSConfCases(path string, names map[string]bool) ([]sqsConfCase, error) {
	cases, err := readCaseFile[sqsConfCase](path)
	if err != nil {
		return nil, err
	}
	for _, c := range cases {
		if names[c.Name] {
			return nil, fmt.Errorf("case %q appears twice", c.Name)
		}
		names[c.Name] = true
		switch {
		case !sqsConfSourceRE.MatchString(c.Source):
			return nil, fmt.Errorf("case %q: source %q is not aws/model/docs", c.Name, c.Source)
		case c.Protocol != "json" && c.Protocol != "query":
			return nil, fmt.Errorf("case %q: protocol %q", c.Name, c.Protocol)
		case c.Operation == "" || c.Status == 0:
			return nil, fmt.Errorf("case %q lacks operation or status", c.Name)
		case c.Entry == nil && c.Code == "":
			return nil, fmt.Errorf("case %q lacks code", c.Name)
		case c.Protocol == "json" && c.Entry == nil && c.Type == "":
			return nil, fmt.Errorf("case %q: a json case names its __type", c.Name)
		case c.Protocol == "json" && (c.Form != nil || c.Method != "" || c.Path != ""):
			return nil, fmt.Errorf("case %q: form, method and path are the query protocol's", c.Name)
		case c.Protocol == "query" && c.Params != nil:
			return nil, fmt.Errorf("case %q: params are the json protocol's", c.Name)
		case (c.Deliberate == "") != (c.HearthMessage == nil):
			return nil, fmt.Errorf("case %q: deliberate and hearthMessage go together", c.Name)
		}
	}
	return cases, nil
}

// sqsConfState is one case's names and handles.
type sqsConfState struct {
	s       *server
	queues  map[string]string // as the case names it → real name
	deleted map[string]bool
	handles map[string]string
	newName string
}

var sqsConfRepeatRE = regexp.MustCompile(`\{repeat:(.):(\d+)\}`)

func (st *sqsConfState) expand(t *testing.T, in string) string {
	t.Helper()
	in = sqsConfRepeatRE.ReplaceAllStringFunc(in, func(m string) string {
		sub := sqsConfRepeatRE.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[2])
		return strings.Repeat(sub[1], n)
	})
	for {
		i := strings.Index(in, "{")
		if i < 0 {
			return in
		}
		j := strings.Index(in[i:], "}")
		if j < 0 {
			return in
		}
		key := in[i+1 : i+j]
		kind, arg, _ := strings.Cut(key, ":")
		var val string
		switch kind {
		case "account":
			val = accountID
		case "region":
			val = region
		case "new":
			val = st.newName
		case "queue", "queue-url", "queue-path", "queue-arn":
			name, ok := st.queues[arg]
			if !ok {
				t.Fatalf("placeholder {%s}: no queue %q in the setup", key, arg)
			}
			switch kind {
			case "queue":
				val = name
			case "queue-url":
				val = st.s.url() + "/" + accountID + "/" + name
			case "queue-path":
				val = "/" + accountID + "/" + name
			default:
				val = "arn:aws:sqs:" + region + ":" + accountID + ":" + name
			}
		case "handle":
			h, ok := st.handles[arg]
			if !ok {
				t.Fatalf("placeholder {%s}: no handle %q received in the setup", key, arg)
			}
			val = h
		default:
			t.Fatalf("unknown placeholder {%s}", key)
		}
		in = in[:i] + val + in[i+j+1:]
	}
}

// expandJSON substitutes the placeholders of every string of a JSON document.
func (st *sqsConfState) expandJSON(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	if raw == nil {
		return []byte("{}")
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("params: %v", err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			return st.expand(t, x)
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	b, err := json.Marshal(walk(doc))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (st *sqsConfState) mustJSON(t *testing.T, op string, body []byte) []byte {
	t.Helper()
	r := st.s.sqsJSON(t, op, body)
	if r.Status != http.StatusOK {
		t.Fatalf("setup %s %s: %d %s", op, sqsConfShort(body), r.Status, r.Body)
	}
	return r.Body
}

func (st *sqsConfState) setup(t *testing.T, step sqsConfStep) {
	t.Helper()
	switch {
	case step.Queue != "":
		name := uniqueName("sqsconf")
		if strings.HasSuffix(step.Queue, ".fifo") {
			name += ".fifo"
		}
		body, _ := json.Marshal(map[string]any{"QueueName": name, "Attributes": step.Attributes})
		st.mustJSON(t, "CreateQueue", body)
		st.queues[step.Queue] = name
		t.Cleanup(func() {
			if !st.deleted[step.Queue] {
				b, _ := json.Marshal(map[string]string{"QueueUrl": st.s.url() + "/" + accountID + "/" + name})
				st.s.sqsJSON(t, "DeleteQueue", b)
			}
		})
	case step.Op != "":
		st.mustJSON(t, step.Op, st.expandJSON(t, step.Params))
	case step.Receive != "":
		body, _ := json.Marshal(map[string]any{"QueueUrl": st.expand(t, "{queue-url:"+step.Receive+"}"), "WaitTimeSeconds": 5})
		var out struct {
			Messages []struct{ ReceiptHandle string }
		}
		if err := json.Unmarshal(st.mustJSON(t, "ReceiveMessage", body), &out); err != nil || len(out.Messages) == 0 {
			t.Fatalf("setup: receive from %s: %v %+v", step.Receive, err, out)
		}
		st.handles[step.Handle] = out.Messages[0].ReceiptHandle
	case step.DeleteQueue != "":
		body, _ := json.Marshal(map[string]string{"QueueUrl": st.expand(t, "{queue-url:"+step.DeleteQueue+"}")})
		st.mustJSON(t, "DeleteQueue", body)
		st.deleted[step.DeleteQueue] = true
	default:
		t.Fatalf("empty setup step")
	}
}

// sqsConfQuery sends a query-protocol request signed for sqs: a GET carries the
// form in its URL, a POST in its body.
func (st *sqsConfState) sqsConfQuery(t *testing.T, method, path string, form url.Values) rawResponse {
	t.Helper()
	target := st.s.url() + path
	var body []byte
	if method == http.MethodGet {
		if len(form) > 0 {
			target += "?" + form.Encode()
		}
	} else {
		body = []byte(form.Encode())
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: st.s.keyID, SecretAccessKey: st.s.secret},
		req, hex.EncodeToString(sum[:]), "sqs", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return doRaw(t, req)
}

// sqsConfAnswer is what a case compares: the error, or a batch's failed entry.
type sqsConfAnswer struct {
	status     int
	typ        string // json: `__type`'s name
	code       string
	fault      string
	message    *string
	entry      *sqsConfEntry
	queryError string // json: x-amzn-query-error as sent
	bare       bool   // query: a document named after the error, no <Error>
}

func sqsConfRun(t *testing.T, s *server, c sqsConfCase) {
	st := &sqsConfState{s: s, queues: map[string]string{}, deleted: map[string]bool{}, handles: map[string]string{}, newName: uniqueName("sqsconf-none")}
	for _, step := range c.Setup {
		st.setup(t, step)
	}
	var got sqsConfAnswer
	var r rawResponse
	if c.Protocol == "json" {
		r = s.sqsJSON(t, c.Operation, st.expandJSON(t, c.Params))
		got = sqsConfFromJSON(t, r)
	} else {
		// Operation "-" is a request without Action (nor Version).
		form := url.Values{}
		if c.Operation != "-" {
			form = url.Values{"Action": {c.Operation}, "Version": {"2012-11-05"}}
		}
		for k, v := range c.Form {
			form.Set(k, st.expand(t, v))
		}
		method, path := c.Method, "/"
		if method == "" {
			method = http.MethodPost
		}
		if c.Path != "" {
			path = st.expand(t, c.Path)
		}
		r = st.sqsConfQuery(t, method, path, form)
		got = sqsConfFromXML(t, r)
	}
	fault := c.Fault
	if fault == "" {
		fault = "Sender"
	}
	if got.status != c.Status {
		t.Fatalf("status %d, AWS answers %d\n(source: %s)\n%s", got.status, c.Status, c.Source, sqsConfShort(r.Body))
	}
	if c.Entry != nil {
		want := *c.Entry
		want.Message = st.expand(t, want.Message)
		if got.entry == nil || *got.entry != want {
			t.Fatalf("failed entry %+v, AWS answers %+v\n(source: %s)\n%s", got.entry, want, c.Source, sqsConfShort(r.Body))
		}
		return
	}
	if c.Protocol == "json" {
		if got.typ != c.Type {
			t.Errorf("__type %q, AWS answers %q (source: %s)", got.typ, c.Type, c.Source)
		}
		if want := c.Code + ";" + fault; got.queryError != want {
			t.Errorf("x-amzn-query-error %q, AWS answers %q (source: %s)", got.queryError, want, c.Source)
		}
	} else {
		if got.code != c.Code {
			t.Errorf("<Code> %q, AWS answers %q (source: %s)", got.code, c.Code, c.Source)
		}
		if !got.bare && got.fault != fault {
			t.Errorf("<Type> %q, AWS answers %q (source: %s)", got.fault, fault, c.Source)
		}
	}
	want := c.Message
	if c.Deliberate != "" {
		want = c.HearthMessage
	}
	if want != nil {
		w := st.expand(t, *want)
		want = &w
	}
	if (want == nil) != (got.message == nil) || (want != nil && *want != *got.message) {
		t.Errorf("message %s,\n   AWS answers %s (source: %s)", sqsConfShow(got.message), sqsConfShow(want), c.Source)
	}
}

func sqsConfFromJSON(t *testing.T, r rawResponse) sqsConfAnswer {
	t.Helper()
	a := sqsConfAnswer{status: r.Status, queryError: r.Header.Get("x-amzn-query-error")}
	if r.Status == http.StatusOK {
		var out struct {
			Failed []struct {
				Id          string
				Code        string
				Message     string
				SenderFault bool
			}
		}
		if err := json.Unmarshal(r.Body, &out); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, sqsConfShort(r.Body))
		}
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			a.entry = &sqsConfEntry{ID: f.Id, Code: f.Code, Message: f.Message, SenderFault: f.SenderFault}
		}
		return a
	}
	var doc struct {
		Type    string  `json:"__type"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, sqsConfShort(r.Body))
	}
	a.typ = strings.TrimPrefix(doc.Type, "com.amazonaws.sqs#")
	a.message = doc.Message
	code, fault, _ := strings.Cut(a.queryError, ";")
	a.code, a.fault = code, fault
	return a
}

func sqsConfFromXML(t *testing.T, r rawResponse) sqsConfAnswer {
	t.Helper()
	a := sqsConfAnswer{status: r.Status}
	var doc struct {
		XMLName xml.Name
		Error   struct {
			Type    string  `xml:"Type"`
			Code    string  `xml:"Code"`
			Message *string `xml:"Message"`
		} `xml:"Error"`
		// The <…Result> of a batch (and, unused, the other children).
		Results []struct {
			Failed []struct {
				Id          string `xml:"Id"`
				SenderFault bool   `xml:"SenderFault"`
				Code        string `xml:"Code"`
				Message     string `xml:"Message"`
			} `xml:"BatchResultErrorEntry"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("answer is not XML: %v: %s", err, sqsConfShort(r.Body))
	}
	switch {
	case doc.XMLName.Local == "ErrorResponse":
		a.code, a.fault, a.message = doc.Error.Code, doc.Error.Type, doc.Error.Message
	case r.Status != http.StatusOK:
		// A bare document named after the error (UnknownOperationException).
		a.code, a.bare = doc.XMLName.Local, true
	default:
		for _, res := range doc.Results {
			if len(res.Failed) > 0 {
				f := res.Failed[0]
				a.entry = &sqsConfEntry{ID: f.Id, Code: f.Code, Message: f.Message, SenderFault: f.SenderFault}
				break
			}
		}
	}
	return a
}

func sqsConfShow(s *string) string {
	if s == nil {
		return "(none)"
	}
	return strconv.Quote(*s)
}

// sqsConfShort keeps a failure's output readable when a case sends a megabyte.
func sqsConfShort(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return string(b)
}
