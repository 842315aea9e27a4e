package control

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

func TestParseFunctionRef(t *testing.T) {
	s := &Service{region: "us-east-1", account: "000000000000"}
	good := []struct {
		in         string
		name, qual string
	}{
		{"my-function", "my-function", ""},
		{"my_function:1", "my_function", "1"},
		{"my-function:$LATEST", "my-function", "$LATEST"},
		{"my-function:live", "my-function", "live"},
		{"000000000000:function:f", "f", ""},
		{"000000000000:function:f:prod", "f", "prod"},
		{"function:f", "f", ""},
		{"us-east-1:000000000000:function:f", "f", ""},
		{"arn:aws:lambda:us-east-1:000000000000:function:f", "f", ""},
		{"arn:aws:lambda:us-east-1:000000000000:function:f:7", "f", "7"},
		// The pattern's prefixes are optional one by one: without "function:" the
		// last word is the name (AWS finds function "function" here).
		{"arn:aws:lambda:us-east-1:000000000000:function", "function", ""},
		{"arn:aws:lambda:us-east-1:000000000000:layer:f", "layer", "f"},
		// A name longer than CreateFunction's 64 fits the pattern.
		{strings.Repeat("a", 65), strings.Repeat("a", 65), ""},
	}
	for _, c := range good {
		ref, err := s.ParseFunctionRef("functionName", c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if ref.Name != c.name || ref.Qualifier != c.qual {
			t.Errorf("%q: got %+v, want %s / %s", c.in, ref, c.name, c.qual)
		}
	}
	bad := []struct {
		in   string
		kind *errdefs.Kind
		msg  string
	}{
		{"", errdefs.ErrValidation, "Member must have length greater than or equal to 1"},
		{"bad name", errdefs.ErrValidation, "regular expression pattern"},
		{"a/b", errdefs.ErrValidation, ""},
		{"f:", errdefs.ErrValidation, ""},
		{"f:a b", errdefs.ErrValidation, ""},
		{"a:b:c", errdefs.ErrValidation, ""},
		{"my.function", errdefs.ErrValidation, ""},
		{"f:$latest", errdefs.ErrValidation, ""},
		{"arn:aws:lambda:us-east-1:000000000000:function:f:1:2", errdefs.ErrValidation, ""},
		{"arn:aws:lambda::000000000000:function:f", errdefs.ErrValidation, ""},
		{"arn:aws:lambda:invalid-region:000000000000:function:f", errdefs.ErrValidation, ""},
		{"arn:aws:s3:us-east-1:000000000000:function:f", errdefs.ErrValidation, ""},
		{"arn:aws:lambda:us-east-1:000000000000:function:" + strings.Repeat("a", 100), errdefs.ErrValidation, "1 validation error detected: Value 'arn:aws:lambda:us-east-1:000000000000:function:" + strings.Repeat("a", 100) + "' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140"},
		{"arn:aws:lambda:eu-west-1:000000000000:function:f", errdefs.ErrNotFound, "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"},
		{"arn:aws:lambda:eusc-de-east-1:000000000000:function:f", errdefs.ErrNotFound, "Functions from 'eusc-de-east-1' are not reachable in this region ('us-east-1')"},
		{"arn:aws:lambda:us-isob-east-1:000000000000:function:f", errdefs.ErrNotFound, "Functions from 'us-isob-east-1' are not reachable"},
		{"arn:aws:lambda:us-east-1:111111111111:function:f", errdefs.ErrAccessDenied, ""},
		{"111111111111:function:f", errdefs.ErrAccessDenied, ""},
	}
	for _, c := range bad {
		_, err := s.ParseFunctionRef("functionName", c.in)
		if !errors.Is(err, c.kind) {
			t.Errorf("%q: got %v, want %s", c.in, err, c.kind.Type)
			continue
		}
		if !strings.Contains(errdefs.Message(err), c.msg) {
			t.Errorf("%q: message %q lacks %q", c.in, errdefs.Message(err), c.msg)
		}
	}
	// Another account's function: AWS answers 403 with no message at all.
	if _, err := s.ParseFunctionRef("functionName", "arn:aws:lambda:us-east-1:111111111111:function:f"); errdefs.Message(err) != "" {
		t.Errorf("other account: message %q, want none", errdefs.Message(err))
	}
}

func TestParseNamespacedFunctionRef(t *testing.T) {
	s := &Service{region: "us-east-1", account: "000000000000"}
	for in, want := range map[string]FunctionRef{
		"my.function":         {Name: "my.function"},
		"f:$LATEST.PUBLISHED": {Name: "f", Qualifier: "$LATEST.PUBLISHED"},
		"arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST": {Name: "f", Qualifier: "$LATEST"},
	} {
		ref, err := s.ParseNamespacedFunctionRef("functionName", in)
		if err != nil || ref != want {
			t.Errorf("%q: got %+v %v, want %+v", in, ref, err, want)
		}
	}
	_, err := s.ParseNamespacedFunctionRef("functionName", "my-function!")
	want := "1 validation error detected: Value 'my-function!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + shapeNamespacedFunctionName.pattern
	if errdefs.Message(err) != want {
		t.Errorf("got %q, want %q", errdefs.Message(err), want)
	}
	// 256, not 140: a long ARN that fits the pattern is looked up, not refused.
	if _, err := s.ParseNamespacedFunctionRef("functionName", "arn:aws:lambda:us-east-1:000000000000:function:"+strings.Repeat("a", 200)); err != nil {
		t.Errorf("200-character name: %v", err)
	}
}

func TestParseQualified(t *testing.T) {
	s := &Service{region: "us-east-1", account: "000000000000"}
	arn := "arn:aws:lambda:us-east-1:000000000000:function:f"
	cases := []struct {
		name, qualifier string
		q               string
		kind            *errdefs.Kind
		msg             string
	}{
		{"f", "", "", nil, ""},
		{"f", "1", "1", nil, ""},
		{arn + ":$LATEST", "$LATEST", "$LATEST", nil, ""},
		{"f", "$latest", "$latest", nil, ""},
		{arn + ":1", "$LATEST", "", errdefs.ErrInvalidParameter, "The derived qualifier from the function name does not match the specified qualifier."},
		{"f", "invalid!", "", errdefs.ErrValidation, "1 validation error detected: Value 'invalid!' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: \\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"},
		{"f", strings.Repeat("a", 129), "", errdefs.ErrValidation, "1 validation error detected: Value '" + strings.Repeat("a", 129) + "' at 'qualifier' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"f!", "invalid!", "", errdefs.ErrValidation, "2 validation errors detected: Value 'f!' at 'functionName'"},
	}
	for _, c := range cases {
		_, q, err := s.parseQualified(c.name, c.qualifier)
		if c.kind == nil {
			if err != nil || q != c.q {
				t.Errorf("%q %q: got %q %v, want %q", c.name, c.qualifier, q, err, c.q)
			}
			continue
		}
		if !errors.Is(err, c.kind) || !strings.HasPrefix(errdefs.Message(err), c.msg) {
			t.Errorf("%q %q: got %v, want %s %q", c.name, c.qualifier, err, c.kind.Type, c.msg)
		}
	}
}

func TestResolveQualifier(t *testing.T) {
	if q, err := resolveQualifier(FunctionRef{Name: "f", Qualifier: "1"}, ""); err != nil || q != "1" {
		t.Fatalf("got %q %v", q, err)
	}
	if q, err := resolveQualifier(FunctionRef{Name: "f"}, "live"); err != nil || q != "live" {
		t.Fatalf("got %q %v", q, err)
	}
	if _, err := resolveQualifier(FunctionRef{Name: "f", Qualifier: "1"}, "2"); !errors.Is(err, errdefs.ErrInvalidParameter) {
		t.Fatalf("mismatched qualifiers: got %v", err)
	}
}

func FuzzParseFunctionRef(f *testing.F) {
	for _, s := range []string{"f", "f:1", "000000000000:function:f:live", "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST", "arn::::::", ":::"} {
		f.Add(s)
	}
	s := &Service{region: "us-east-1", account: "000000000000"}
	reName := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	reQualifier := regexp.MustCompile(`^(\$LATEST|[a-zA-Z0-9_-]+)$`)
	f.Fuzz(func(t *testing.T, in string) {
		ref, err := s.ParseFunctionRef("functionName", in)
		if err != nil {
			if errdefs.KindOf(err) == errdefs.ErrService {
				t.Fatalf("%q: unclassified error %v", in, err)
			}
			return
		}
		if !reName.MatchString(ref.Name) {
			t.Fatalf("%q: accepted bad name %q", in, ref.Name)
		}
		if ref.Qualifier != "" && !reQualifier.MatchString(ref.Qualifier) {
			t.Fatalf("%q: accepted bad qualifier %q", in, ref.Qualifier)
		}
	})
}

// newFunctionService is a Service over a fresh store with function f, version 1
// published.
func newFunctionService(t *testing.T) *Service {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(Config{Store: st, Region: "us-east-1", AccountID: "000000000000"})
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, _ := w.Create("app.py")
	_, _ = f.Write([]byte("def handler(e, c):\n    return e\n"))
	_ = w.Close()
	ctx := context.Background()
	if _, err := s.CreateFunction(ctx, &CreateFunctionInput{FunctionName: "f", Runtime: "python3.12", Role: "arn:aws:iam::000000000000:role/r", Handler: "app.handler", Code: &FunctionCode{ZipFile: b.Bytes()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishVersion(ctx, &PublishVersionInput{FunctionName: "f"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// The answers AWS gives on names, qualifiers and versions that do not exist
// (LocalStack's validated snapshots, test_lambda_api.py, recorded 2025-11-25).
func TestFunctionNotFoundAnswers(t *testing.T) {
	s := newFunctionService(t)
	ctx := context.Background()
	const arn = "arn:aws:lambda:us-east-1:000000000000:function:"
	check := func(what string, err error, kind *errdefs.Kind, msg string) {
		t.Helper()
		if kind == nil {
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
			return
		}
		if !errors.Is(err, kind) || errdefs.Message(err) != msg {
			t.Errorf("%s: got %v, want %s %q", what, err, kind.Type, msg)
		}
	}
	_, _, err := s.GetFunction(ctx, "nope", "")
	check("GetFunction unknown", err, errdefs.ErrNotFound, "Function not found: "+arn+"nope")
	_, _, err = s.GetFunction(ctx, arn+"nope:$LATEST", "$LATEST")
	check("GetFunction unknown:$LATEST", err, errdefs.ErrNotFound, "Function not found: "+arn+"nope:$LATEST")
	_, err = s.GetFunctionConfiguration(ctx, "f", "1221")
	check("GetFunctionConfiguration unknown version", err, errdefs.ErrNotFound, "Function not found: "+arn+"f:1221")
	_, err = s.GetFunctionConfiguration(ctx, "f", "nolias")
	check("GetFunctionConfiguration unknown alias", err, errdefs.ErrNotFound, "Function not found: "+arn+"f:nolias")
	_, _, err = s.GetFunction(ctx, arn+"nope", "$latest")
	check("GetFunction $latest", err, errdefs.ErrNotFound, "Function not found: "+arn+"nope:$latest")

	// DeleteFunction refuses $LATEST and aliases before it looks the function up;
	// a version that does not exist is deleted already.
	check("DeleteFunction $LATEST", s.DeleteFunction(ctx, "nope", "$LATEST"), errdefs.ErrInvalidParameter, "$LATEST version cannot be deleted without deleting the function.")
	check("DeleteFunction alias", s.DeleteFunction(ctx, "nope", "live"), errdefs.ErrInvalidParameter, "Deletion of aliases is not currently supported.")
	check("DeleteFunction version of unknown", s.DeleteFunction(ctx, "nope", "1233"), errdefs.ErrNotFound, "Function not found: "+arn+"nope")
	check("DeleteFunction $latest of unknown", s.DeleteFunction(ctx, arn+"nope", "$latest"), errdefs.ErrNotFound, "Function not found: "+arn+"nope")
	check("DeleteFunction unpublished version", s.DeleteFunction(ctx, "f", "1233"), nil, "")
	check("DeleteFunction version 1", s.DeleteFunction(ctx, "f", "1"), nil, "")
	check("DeleteFunction version 1 again", s.DeleteFunction(ctx, "f", "1"), nil, "")
	if _, err := s.GetFunctionConfiguration(ctx, "f", "1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("version 1 after its delete: %v", err)
	}
	check("DeleteFunction f", s.DeleteFunction(ctx, "f", ""), nil, "")
	check("DeleteFunction f again", s.DeleteFunction(ctx, "f", ""), errdefs.ErrNotFound, "Function not found: "+arn+"f")
}

// A stale RevisionId is answered before the service's other checks (AWS, recorded
// 2025-11-25: a python3.8 update with RevisionId "wrong" is a 412).
func TestRevisionIdFirst(t *testing.T) {
	s := newFunctionService(t)
	ctx := context.Background()
	const msg = "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
	_, err := s.UpdateFunctionConfiguration(ctx, &UpdateFunctionConfigurationInput{FunctionName: "f", Runtime: ptr("python3.8"), RevisionId: "wrong"})
	if !errors.Is(err, errdefs.ErrPreconditionFailed) || errdefs.Message(err) != msg {
		t.Errorf("UpdateFunctionConfiguration: %v", err)
	}
	_, err = s.UpdateFunctionCode(ctx, &UpdateFunctionCodeInput{FunctionName: "f", ImageUri: ptr("x"), RevisionId: "wrong"})
	if !errors.Is(err, errdefs.ErrPreconditionFailed) {
		t.Errorf("UpdateFunctionCode: %v", err)
	}
	_, err = s.PublishVersion(ctx, &PublishVersionInput{FunctionName: "f", CodeSha256: "x", RevisionId: "wrong"})
	if !errors.Is(err, errdefs.ErrPreconditionFailed) {
		t.Errorf("PublishVersion: %v", err)
	}
	cfg, _ := s.GetFunctionConfiguration(ctx, "f", "")
	_, err = s.PublishVersion(ctx, &PublishVersionInput{FunctionName: "f", CodeSha256: "x", RevisionId: cfg.RevisionId})
	want := "CodeSHA256 (x) is different from current CodeSHA256 in $LATEST (" + cfg.CodeSha256 + "). Please try again with the CodeSHA256 in $LATEST."
	if !errors.Is(err, errdefs.ErrInvalidParameter) || errdefs.Message(err) != want {
		t.Errorf("PublishVersion CodeSha256: %v", err)
	}
}
