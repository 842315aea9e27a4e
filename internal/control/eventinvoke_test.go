package control

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

const (
	testQueue   = "arn:aws:sqs:us-east-1:000000000000:dlq"
	testAccount = "000000000000"
)

// newTestService is a registry over a real embedded JetStream, with one queue
// served (testQueue), and functions f (version 1, alias live) and g.
func newTestService(t *testing.T) *Service {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(Config{Store: st, Region: "us-east-1", AccountID: testAccount, QueueExists: func(arn string) bool { return arn == testQueue }})
	ctx := context.Background()
	for _, name := range []string{"f", "g"} {
		if _, err := s.CreateFunction(ctx, &CreateFunctionInput{FunctionName: name, Runtime: "python3.12", Role: "arn:aws:iam::000000000000:role/r", Handler: "app.handler", Code: &FunctionCode{ZipFile: testZip(t)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PublishVersion(ctx, &PublishVersionInput{FunctionName: "f"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAlias(ctx, &CreateAliasInput{FunctionName: "f", Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	return s
}

func testZip(t *testing.T) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, _ := w.Create("app.py")
	_, _ = f.Write([]byte("def handler(e, c):\n    return e\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func ptr[T any](v T) *T { return &v }

func dest(arn string) *Destination { return &Destination{Destination: &arn} }

// wantErr checks an error's kind and, when msg is not "", its exact message (a
// trailing "*" matches a prefix).
func wantErr(t *testing.T, what string, err error, kind *errdefs.Kind, msg string) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
		return
	}
	if !errors.Is(err, kind) {
		t.Errorf("%s: got %v, want %s", what, err, kind.Type)
		return
	}
	got := errdefs.Message(err)
	if p, ok := strings.CutSuffix(msg, "*"); ok {
		if !strings.HasPrefix(got, p) {
			t.Errorf("%s: message %q, want prefix %q", what, got, p)
		}
	} else if msg != "" && got != msg {
		t.Errorf("%s: message %q, want %q", what, got, msg)
	}
}

func TestPutEventInvokeConfigValidation(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	arnF := "arn:aws:lambda:us-east-1:000000000000:function:f"
	arnG := "arn:aws:lambda:us-east-1:000000000000:function:g"
	cases := []struct {
		name     string
		fn, qual string
		in       EventInvokeConfigInput
		kind     *errdefs.Kind
		msg      string
	}{
		{"nothing set", "f", "", EventInvokeConfigInput{}, errdefs.ErrInvalidParameter, "You must specify at least one of error handling or destination setting."},
		{"retries low", "f", "", EventInvokeConfigInput{MaximumRetryAttempts: ptr(-1)}, errdefs.ErrValidation, "1 validation error detected: Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value greater than or equal to 0"},
		{"retries high", "f", "", EventInvokeConfigInput{MaximumRetryAttempts: ptr(3)}, errdefs.ErrValidation, "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"},
		{"age low", "f", "", EventInvokeConfigInput{MaximumEventAgeInSeconds: ptr(59)}, errdefs.ErrValidation, "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"},
		{"age high", "f", "", EventInvokeConfigInput{MaximumEventAgeInSeconds: ptr(21601)}, errdefs.ErrValidation, "1 validation error detected: Value '21601' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value less than or equal to 21600"},
		{"bounds ok", "f", "", EventInvokeConfigInput{MaximumRetryAttempts: ptr(0), MaximumEventAgeInSeconds: ptr(60)}, nil, ""},
		{"bounds ok high", "f", "", EventInvokeConfigInput{MaximumRetryAttempts: ptr(2), MaximumEventAgeInSeconds: ptr(21600)}, nil, ""},
		{"empty destinations", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{}}, nil, ""},
		{"unknown function", "nope", "", EventInvokeConfigInput{MaximumRetryAttempts: ptr(1)}, errdefs.ErrNotFound, "The function doesn't exist."},
		{"unknown version", "f", "7", EventInvokeConfigInput{MaximumRetryAttempts: ptr(1)}, errdefs.ErrNotFound, "The function doesn't exist."},
		{"unknown alias", "f", "nope", EventInvokeConfigInput{MaximumRetryAttempts: ptr(1)}, errdefs.ErrNotFound, "The function doesn't exist."},
		{"qualifier mismatch", "f:1", "live", EventInvokeConfigInput{MaximumRetryAttempts: ptr(1)}, errdefs.ErrInvalidParameter, "The derived qualifier from the function name does not match the specified qualifier."},
		{"self", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest(arnF)}}, errdefs.ErrInvalidParameter, "You can't specify the function as a destination for itself."},
		{"self qualified", "f", "live", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest(arnF + ":1")}}, errdefs.ErrInvalidParameter, "You can't specify the function as a destination for itself."},
		{"missing lambda", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest(arnF + "nope")}}, errdefs.ErrInvalidParameter, "The destination ARN " + arnF + "nope is invalid."},
		{"missing lambda qualifier", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest(arnG + ":9")}}, errdefs.ErrInvalidParameter, "The destination ARN " + arnG + ":9 is invalid."},
		{"lambda other region", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest("arn:aws:lambda:eu-west-1:000000000000:function:g")}}, errdefs.ErrInvalidParameter, "The destination ARN arn:aws:lambda:eu-west-1:000000000000:function:g is invalid."},
		{"lambda other account", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest("arn:aws:lambda:us-east-1:111111111111:function:g")}}, errdefs.ErrInvalidParameter, "The destination ARN arn:aws:lambda:us-east-1:111111111111:function:g is invalid."},
		{"lambda ok", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest(arnG), OnFailure: dest(arnG + ":$LATEST")}}, nil, ""},
		{"queue ok", "f", "1", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest(testQueue)}}, nil, ""},
		{"queue unknown", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest("arn:aws:sqs:us-east-1:000000000000:other")}}, errdefs.ErrInvalidParameter, "The destination ARN arn:aws:sqs:us-east-1:000000000000:other is invalid."},
		{"queue other region", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest("arn:aws:sqs:eu-west-1:000000000000:dlq")}}, errdefs.ErrInvalidParameter, "The destination ARN arn:aws:sqs:eu-west-1:000000000000:dlq is invalid."},
		{"sns", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest("arn:aws:sns:us-east-1:000000000000:t")}}, errdefs.ErrInvalidParameter, "Hearth cannot deliver to SNS topics yet*"},
		{"eventbridge", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest("arn:aws:events:us-east-1:000000000000:event-bus/default")}}, errdefs.ErrInvalidParameter, "Hearth cannot deliver to EventBridge event buses yet*"},
		{"s3", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest("arn:aws:s3:::bucket")}}, errdefs.ErrInvalidParameter, "Hearth cannot deliver to S3 buckets yet*"},
		{"iam", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest("arn:aws:iam::000000000000:role/r")}}, errdefs.ErrInvalidParameter, "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=arn:aws:iam::000000000000:role/r), onFailure=null) is invalid."},
		{"iam both", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest(arnG), OnFailure: dest("arn:aws:iam::000000000000:role/r")}}, errdefs.ErrInvalidParameter, "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=" + arnG + "), onFailure=OnFailure(destination=arn:aws:iam::000000000000:role/r)) is invalid."},
		{"kafka", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest("kafka://topic")}}, errdefs.ErrInvalidParameter, "The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination=kafka://topic)) is invalid."},
		{"bad arn", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest("invalid")}}, errdefs.ErrValidation, "1 validation error detected: Value 'invalid' at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must satisfy regular expression pattern: " + destinationArnPattern},
		{"bad arn success", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest("arn:aws:_-/!lambda:x")}}, errdefs.ErrValidation, "1 validation error detected: Value 'arn:aws:_-/!lambda:x' at 'destinationConfig.onSuccess.destination' failed*"},
		{"bad arn long", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest("arn:aws:sqs:us-east-1:000000000000:" + strings.Repeat("q", 350))}}, errdefs.ErrValidation, "*"},
		{"empty destination is none", "f", "", EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest("")}}, nil, ""},
	}
	for _, c := range cases {
		in := c.in
		_, err := s.PutFunctionEventInvokeConfig(ctx, c.fn, c.qual, &in)
		wantErr(t, "put "+c.name, err, c.kind, c.msg)
		if c.kind != nil && c.kind != errdefs.ErrNotFound && c.msg != "You must specify at least one of error handling or destination setting." {
			// Update validates the same way (on a config that exists).
			_, _ = s.PutFunctionEventInvokeConfig(ctx, c.fn, c.qual, &EventInvokeConfigInput{MaximumRetryAttempts: ptr(1)})
			in := c.in
			_, err := s.UpdateFunctionEventInvokeConfig(ctx, c.fn, c.qual, &in)
			wantErr(t, "update "+c.name, err, c.kind, c.msg)
		}
	}
}

func TestEventInvokeConfigLifecycle(t *testing.T) {
	now := time.Unix(1700000000, 123e6)
	s := newTestService(t)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	arnG := "arn:aws:lambda:us-east-1:000000000000:function:g"

	// No config yet: Get, Update and Delete say so, with the qualified ARN.
	_, err := s.GetFunctionEventInvokeConfig(ctx, "f", "")
	wantErr(t, "get none", err, errdefs.ErrNotFound, "The function arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST doesn't have an EventInvokeConfig")
	_, err = s.GetFunctionEventInvokeConfig(ctx, "nope", "live")
	wantErr(t, "get no function", err, errdefs.ErrNotFound, "The function arn:aws:lambda:us-east-1:000000000000:function:nope:live doesn't have an EventInvokeConfig")
	_, err = s.UpdateFunctionEventInvokeConfig(ctx, "f", "live", &EventInvokeConfigInput{MaximumRetryAttempts: ptr(1)})
	wantErr(t, "update none", err, errdefs.ErrNotFound, "The function arn:aws:lambda:us-east-1:000000000000:function:f:live doesn't have an EventInvokeConfig")
	err = s.DeleteFunctionEventInvokeConfig(ctx, "f", "1")
	wantErr(t, "delete none", err, errdefs.ErrNotFound, "The function arn:aws:lambda:us-east-1:000000000000:function:f:1 doesn't have an EventInvokeConfig")
	if c, _ := s.AsyncConfig("f", ""); c != DefaultAsyncConfig() || c.MaximumRetryAttempts != 2 || c.MaximumEventAge != 6*time.Hour {
		t.Fatalf("defaults: %+v", c)
	}

	// Put renders unset destinations as {} and omits unset numbers.
	out, err := s.PutFunctionEventInvokeConfig(ctx, "f", "", &EventInvokeConfigInput{MaximumRetryAttempts: ptr(1)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	want := `{"LastModified":1700000000.123,"FunctionArn":"arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST","MaximumRetryAttempts":1,"DestinationConfig":{"OnFailure":{},"OnSuccess":{}}}`
	if string(b) != want {
		t.Fatalf("put:\n got %s\nwant %s", b, want)
	}
	if c, _ := s.AsyncConfig("f", "$LATEST"); c.MaximumRetryAttempts != 1 || c.MaximumEventAge != 6*time.Hour {
		t.Fatalf("async config after put: %+v", c)
	}

	// Update keeps what it does not name.
	out, err = s.UpdateFunctionEventInvokeConfig(ctx, "f", "", &EventInvokeConfigInput{MaximumEventAgeInSeconds: ptr(120), DestinationConfig: &DestinationConfig{OnFailure: dest(testQueue)}})
	if err != nil {
		t.Fatal(err)
	}
	if *out.MaximumRetryAttempts != 1 || *out.MaximumEventAgeInSeconds != 120 || *out.DestinationConfig.OnFailure.Destination != testQueue || out.DestinationConfig.OnSuccess.Destination != nil {
		t.Fatalf("update: %+v", out)
	}
	out, err = s.UpdateFunctionEventInvokeConfig(ctx, "f", "", &EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnSuccess: dest(arnG)}})
	if err != nil || *out.DestinationConfig.OnFailure.Destination != testQueue || *out.DestinationConfig.OnSuccess.Destination != arnG {
		t.Fatalf("update destinations: %+v %v", out, err)
	}
	if c, _ := s.AsyncConfig("f", ""); c != (AsyncConfig{MaximumRetryAttempts: 1, MaximumEventAge: 2 * time.Minute, OnSuccess: arnG, OnFailure: testQueue}) {
		t.Fatalf("async config after update: %+v", c)
	}

	// Put replaces: what it leaves out is gone.
	out, err = s.PutFunctionEventInvokeConfig(ctx, "f", "", &EventInvokeConfigInput{MaximumEventAgeInSeconds: ptr(300)})
	if err != nil || out.MaximumRetryAttempts != nil || out.DestinationConfig.OnFailure.Destination != nil || out.DestinationConfig.OnSuccess.Destination != nil {
		t.Fatalf("put replaces: %+v %v", out, err)
	}
	if c, _ := s.AsyncConfig("f", ""); c != (AsyncConfig{MaximumRetryAttempts: 2, MaximumEventAge: 5 * time.Minute}) {
		t.Fatalf("async config after put: %+v", c)
	}

	// Version and alias configs, each its own; the qualifier may come in the name.
	if _, err := s.PutFunctionEventInvokeConfig(ctx, "f:1", "", &EventInvokeConfigInput{MaximumRetryAttempts: ptr(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutFunctionEventInvokeConfig(ctx, "arn:aws:lambda:us-east-1:000000000000:function:f", "live", &EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest(arnG)}}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.AsyncConfig("f", "1"); c.MaximumRetryAttempts != 0 {
		t.Fatalf("version: %+v", c)
	}
	if c, _ := s.AsyncConfig("f", "live"); c.OnFailure != arnG || c.MaximumRetryAttempts != 2 {
		t.Fatalf("alias: %+v", c)
	}
	if c, _ := s.AsyncConfig("g", ""); c != DefaultAsyncConfig() {
		t.Fatalf("g: %+v", c)
	}

	// List: $LATEST, versions, aliases; paged.
	var arns []string
	marker := ""
	for {
		page, err := s.ListFunctionEventInvokeConfigs(ctx, "f", marker, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.FunctionEventInvokeConfigs {
			arns = append(arns, c.FunctionArn)
		}
		if marker = page.NextMarker; marker == "" {
			break
		}
	}
	if strings.Join(arns, " ") != "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST arn:aws:lambda:us-east-1:000000000000:function:f:1 arn:aws:lambda:us-east-1:000000000000:function:f:live" {
		t.Fatalf("list: %v", arns)
	}
	_, err = s.ListFunctionEventInvokeConfigs(ctx, "nope", "", 0)
	wantErr(t, "list no function", err, errdefs.ErrNotFound, "The function doesn't exist.")

	// Deleting the alias drops its config; deleting the function drops them all.
	if err := s.DeleteAlias(ctx, "f", "live"); err != nil {
		t.Fatal(err)
	}
	if page, _ := s.ListFunctionEventInvokeConfigs(ctx, "f", "", 0); len(page.FunctionEventInvokeConfigs) != 2 {
		t.Fatalf("after DeleteAlias: %d configs", len(page.FunctionEventInvokeConfigs))
	}
	if err := s.DeleteFunctionEventInvokeConfig(ctx, "f", ""); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetFunctionEventInvokeConfig(ctx, "f", "$LATEST")
	wantErr(t, "get deleted", err, errdefs.ErrNotFound, "*")
	if err := s.DeleteFunction(ctx, "f", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.st.Settings.Get(asyncKey("f", "")); ok || len(s.st.Settings.Keys("async.f.")) != 0 {
		t.Fatalf("async settings left behind: %v", s.st.Settings.Keys("async.f."))
	}
	if _, err := s.AsyncConfig("f", "1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("AsyncConfig of a deleted function: %v", err)
	}
}

func TestRecursionConfig(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	got, err := s.GetFunctionRecursionConfig(ctx, "f")
	if err != nil || *got.RecursiveLoop != "Terminate" {
		t.Fatalf("default: %v %v", got, err)
	}
	if loop, _ := s.RecursiveLoop("f"); loop != "Terminate" {
		t.Fatalf("RecursiveLoop default %q", loop)
	}
	cases := []struct {
		fn   string
		loop *string
		kind *errdefs.Kind
		msg  string
	}{
		{"f", ptr("Allow"), nil, ""},
		{"f", ptr("allow"), errdefs.ErrValidation, "1 validation error detected: Value 'allow' at 'recursiveLoop' failed to satisfy constraint: Member must satisfy enum value set: [Terminate, Allow]"},
		{"f", nil, errdefs.ErrValidation, "1 validation error detected: Value null at 'recursiveLoop' failed to satisfy constraint: Member must not be null"},
		{"f:1", ptr("Allow"), errdefs.ErrValidation, "1 validation error detected: Value 'f:1' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + unqualifiedFunctionPattern},
		{"nope", ptr("Allow"), errdefs.ErrNotFound, "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"},
	}
	for _, c := range cases {
		_, err := s.PutFunctionRecursionConfig(ctx, c.fn, c.loop)
		wantErr(t, "put recursion "+c.fn, err, c.kind, c.msg)
	}
	if got, _ := s.GetFunctionRecursionConfig(ctx, "f"); *got.RecursiveLoop != "Allow" {
		t.Fatalf("after put: %v", *got.RecursiveLoop)
	}
	if loop, _ := s.RecursiveLoop("arn:aws:lambda:us-east-1:000000000000:function:f"); loop != "Allow" {
		t.Fatalf("RecursiveLoop %q", loop)
	}
	if loop, _ := s.RecursiveLoop("g"); loop != "Terminate" {
		t.Fatalf("RecursiveLoop g %q", loop)
	}
	_, err = s.GetFunctionRecursionConfig(ctx, "f:live")
	wantErr(t, "get qualified", err, errdefs.ErrValidation, "*")
}

func TestDeadLetterConfig(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	cases := []struct {
		arn  string
		kind *errdefs.Kind
		msg  string
	}{
		{testQueue, nil, ""},
		{"", nil, ""},
		{"not-an-arn", errdefs.ErrValidation, "1 validation error detected: Value 'not-an-arn' at 'deadLetterConfig.targetArn' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()"},
		{"arn:aws:sqs:us-east-1:000000000000:other", errdefs.ErrInvalidParameter, "The dead-letter queue arn:aws:sqs:us-east-1:000000000000:other is not a queue Hearth serves*"},
		{"arn:aws:sqs:eu-west-1:000000000000:dlq", errdefs.ErrInvalidParameter, "The dead-letter queue*"},
		{"arn:aws:sns:us-east-1:000000000000:t", errdefs.ErrInvalidParameter, "Hearth cannot deliver dead letters to SNS topics yet*"},
		{"arn:aws:s3:::b", errdefs.ErrInvalidParameter, "DeadLetterConfig.TargetArn must be the ARN of an SQS queue or SNS topic*"},
	}
	for _, c := range cases {
		_, err := s.UpdateFunctionConfiguration(ctx, &UpdateFunctionConfigurationInput{FunctionName: "g", DeadLetterConfig: &DeadLetterConfig{TargetArn: ptr(c.arn)}})
		wantErr(t, "update dlq "+c.arn, err, c.kind, c.msg)
		_, err = s.CreateFunction(ctx, &CreateFunctionInput{FunctionName: "h", Runtime: "python3.12", Role: "arn:aws:iam::000000000000:role/r", Handler: "app.handler", Code: &FunctionCode{ZipFile: testZip(t)}, DeadLetterConfig: &DeadLetterConfig{TargetArn: ptr(c.arn)}})
		wantErr(t, "create dlq "+c.arn, err, c.kind, c.msg)
		if err == nil {
			_ = s.DeleteFunction(ctx, "h", "")
		}
	}

	// Set, shown, copied into a published version, removed by an empty TargetArn.
	c, err := s.UpdateFunctionConfiguration(ctx, &UpdateFunctionConfigurationInput{FunctionName: "g", DeadLetterConfig: &DeadLetterConfig{TargetArn: ptr(testQueue)}})
	if err != nil || c.DeadLetterConfig == nil || *c.DeadLetterConfig.TargetArn != testQueue {
		t.Fatalf("update: %+v %v", c, err)
	}
	if c, _ := s.GetFunctionConfiguration(ctx, "g", ""); c.DeadLetterConfig == nil || *c.DeadLetterConfig.TargetArn != testQueue {
		t.Fatalf("get: %+v", c)
	}
	v, err := s.PublishVersion(ctx, &PublishVersionInput{FunctionName: "g"})
	if err != nil || v.DeadLetterConfig == nil || *v.DeadLetterConfig.TargetArn != testQueue {
		t.Fatalf("publish: %+v %v", v, err)
	}
	// Other updates keep it.
	if c, err := s.UpdateFunctionConfiguration(ctx, &UpdateFunctionConfigurationInput{FunctionName: "g", Timeout: ptr(10)}); err != nil || c.DeadLetterConfig == nil {
		t.Fatalf("unrelated update: %+v %v", c, err)
	}
	if c, err := s.UpdateFunctionConfiguration(ctx, &UpdateFunctionConfigurationInput{FunctionName: "g", DeadLetterConfig: &DeadLetterConfig{TargetArn: ptr("")}}); err != nil || c.DeadLetterConfig != nil {
		t.Fatalf("remove: %+v %v", c, err)
	}
	b, _ := json.Marshal(v)
	if !strings.Contains(string(b), `"DeadLetterConfig":{"TargetArn":"`+testQueue+`"}`) {
		t.Fatalf("rendered: %s", b)
	}
	tg, err := s.ResolveInvoke(ctx, "g", v.Version)
	if err != nil || tg.DeadLetterArn != testQueue {
		t.Fatalf("invoke target of the version: %+v %v", tg, err)
	}
	if tg, _ := s.ResolveInvoke(ctx, "g", ""); tg.DeadLetterArn != "" {
		t.Fatalf("$LATEST after removal: %q", tg.DeadLetterArn)
	}
	// A nil QueueExists refuses every queue.
	s.queueExists = nil
	_, err = s.UpdateFunctionConfiguration(ctx, &UpdateFunctionConfigurationInput{FunctionName: "g", DeadLetterConfig: &DeadLetterConfig{TargetArn: ptr(testQueue)}})
	wantErr(t, "no queue service", err, errdefs.ErrInvalidParameter, "*")
	_, err = s.PutFunctionEventInvokeConfig(ctx, "g", "", &EventInvokeConfigInput{DestinationConfig: &DestinationConfig{OnFailure: dest(testQueue)}})
	wantErr(t, "no queue service destination", err, errdefs.ErrInvalidParameter, "The destination ARN "+testQueue+" is invalid.")
}

// TestAsyncConfigCached: AsyncConfig answers from its cache until something changes.
func TestAsyncConfigCached(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	if _, err := s.AsyncConfig("f", "live"); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() { _, _ = s.AsyncConfig("f", "live") })
	if allocs > 1 {
		t.Errorf("cached AsyncConfig allocates %.0f times", allocs)
	}
	if _, err := s.PutFunctionEventInvokeConfig(ctx, "f", "live", &EventInvokeConfigInput{MaximumRetryAttempts: ptr(0)}); err != nil {
		t.Fatal(err)
	}
	// The mirror catches up with the write asynchronously.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, _ := s.AsyncConfig("f", "live")
		if c.MaximumRetryAttempts == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stale: %+v", c)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
