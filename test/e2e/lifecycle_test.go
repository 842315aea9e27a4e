package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var (
	reLastModified = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$`)
	reUUID         = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// configOf converts any output that has the members of FunctionConfiguration
// (CreateFunctionOutput, GetFunctionConfigurationOutput, …) into one, so they compare.
func configOf(t testing.TB, v any) types.FunctionConfiguration {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var c types.FunctionConfiguration
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// spec is what a test asked for; checkConfig compares a returned configuration with it.
type spec struct {
	name, runtime, handler, description, version string
	memory, timeout, ephemeral                   int32
	env                                          map[string]string
	arch                                         types.Architecture
	zip                                          []byte
}

func checkConfig(t testing.TB, what string, c types.FunctionConfiguration, want spec) {
	t.Helper()
	errorf := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: "+format, append([]any{what}, args...)...)
	}
	if got := deref(c.FunctionName); got != want.name {
		errorf("FunctionName = %q, want %q", got, want.name)
	}
	wantArn := functionArn(want.name)
	if want.version != "$LATEST" {
		wantArn += ":" + want.version
	}
	if got := deref(c.FunctionArn); got != wantArn {
		errorf("FunctionArn = %q, want %q", got, wantArn)
	}
	if got := deref(c.Version); got != want.version {
		errorf("Version = %q, want %q", got, want.version)
	}
	if string(c.Runtime) != want.runtime {
		errorf("Runtime = %q, want %q", c.Runtime, want.runtime)
	}
	if got := deref(c.Handler); got != want.handler {
		errorf("Handler = %q, want %q", got, want.handler)
	}
	if got := deref(c.Role); got != testRole {
		errorf("Role = %q, want %q", got, testRole)
	}
	if got := deref(c.Description); got != want.description {
		errorf("Description = %q, want %q", got, want.description)
	}
	if got := deref(c.MemorySize); got != want.memory {
		errorf("MemorySize = %d, want %d", got, want.memory)
	}
	if got := deref(c.Timeout); got != want.timeout {
		errorf("Timeout = %d, want %d", got, want.timeout)
	}
	if c.EphemeralStorage == nil || deref(c.EphemeralStorage.Size) != want.ephemeral {
		errorf("EphemeralStorage = %s, want Size %d", jsonOf(t, c.EphemeralStorage), want.ephemeral)
	}
	var env map[string]string
	if c.Environment != nil {
		env = c.Environment.Variables
	}
	if len(env) != 0 || len(want.env) != 0 {
		if !reflect.DeepEqual(env, want.env) {
			errorf("Environment.Variables = %v, want %v", env, want.env)
		}
	}
	if len(c.Architectures) != 1 || c.Architectures[0] != want.arch {
		errorf("Architectures = %v, want [%s]", c.Architectures, want.arch)
	}
	if got := deref(c.CodeSha256); got != sha256B64(want.zip) {
		errorf("CodeSha256 = %q, want base64(sha256(zip)) = %q", got, sha256B64(want.zip))
	}
	if c.CodeSize != int64(len(want.zip)) {
		errorf("CodeSize = %d, want len(zip) = %d", c.CodeSize, len(want.zip))
	}
	if got := deref(c.LastModified); !reLastModified.MatchString(got) {
		errorf("LastModified = %q, want the format %s", got, reLastModified)
	} else if ts, err := time.Parse("2006-01-02T15:04:05.000-0700", got); err != nil || time.Since(ts) > time.Hour || time.Until(ts) > time.Minute {
		errorf("LastModified = %q is not the time of the change (now %s)", got, time.Now().UTC().Format(time.RFC3339))
	}
	if got := deref(c.RevisionId); !reUUID.MatchString(got) {
		errorf("RevisionId = %q, want a UUID", got)
	}
	if c.State != types.StateActive {
		errorf("State = %q, want Active", c.State)
	}
	if c.LastUpdateStatus != types.LastUpdateStatusSuccessful {
		errorf("LastUpdateStatus = %q, want Successful", c.LastUpdateStatus)
	}
	if c.PackageType != types.PackageTypeZip {
		errorf("PackageType = %q, want Zip", c.PackageType)
	}
}

// TestFunctionLifecycle creates a function of each runtime family with every common
// setting and Publish=true, and reads it back every way Lambda offers.
func TestFunctionLifecycle(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	cases := []struct {
		runtime types.Runtime
		handler string
		zip     func(testing.TB, string) []byte
		arch    types.Architecture
	}{
		{types.RuntimePython312, "lambda_function.lambda_handler", pythonZip, types.ArchitectureX8664},
		{types.RuntimeNodejs20x, "index.handler", nodeZip, types.ArchitectureArm64},
		{types.RuntimeProvidedal2023, "bootstrap.handler", bootstrapZip, types.ArchitectureArm64},
	}
	for _, tc := range cases {
		t.Run(string(tc.runtime), func(t *testing.T) {
			t.Parallel()
			name := uniqueName("life-" + strings.Split(string(tc.runtime), ".")[0])
			zip := tc.zip(t, name)
			env := map[string]string{"STAGE": "e2e", "GREETING": "hello world", "EMPTY": ""}
			tags := map[string]string{"team": "hearth", "cost-center": "42"}
			want := spec{
				name: name, runtime: string(tc.runtime), handler: tc.handler, description: "lifecycle of " + name,
				memory: 256, timeout: 30, ephemeral: 1024, env: env, arch: tc.arch, zip: zip, version: "1",
			}
			created, err := c.CreateFunction(ctxT(t), &lambda.CreateFunctionInput{
				FunctionName:     aws.String(name),
				Runtime:          tc.runtime,
				Handler:          aws.String(tc.handler),
				Role:             aws.String(testRole),
				Code:             &types.FunctionCode{ZipFile: zip},
				Description:      aws.String(want.description),
				MemorySize:       aws.Int32(256),
				Timeout:          aws.Int32(30),
				Environment:      &types.Environment{Variables: env},
				EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(1024)},
				Architectures:    []types.Architecture{tc.arch},
				Tags:             tags,
				Publish:          true,
			})
			if err != nil {
				t.Fatalf("CreateFunction: %v", err)
			}
			// With Publish, Lambda answers with version 1's configuration. (Its
			// FunctionArn is checked in TestQualifiedArns.)
			createdCfg := configOf(t, created)
			createdCfg.FunctionArn = aws.String(functionArn(name) + ":1")
			checkConfig(t, "CreateFunction", createdCfg, want)

			// The SDK waiters the CLI uses after create and update.
			ctx := ctxT(t)
			if err := lambda.NewFunctionActiveV2Waiter(c).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
				t.Errorf("FunctionActiveV2 waiter: %v", err)
			}
			if err := lambda.NewFunctionUpdatedV2Waiter(c).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
				t.Errorf("FunctionUpdatedV2 waiter: %v", err)
			}
			if err := lambda.NewPublishedVersionActiveWaiter(c).Wait(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String("1")}, 30*time.Second); err != nil {
				t.Errorf("PublishedVersionActive waiter: %v", err)
			}

			got := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
			latest := want
			latest.version = "$LATEST"
			checkConfig(t, "GetFunction", *got.Configuration, latest)
			if !reflect.DeepEqual(got.Tags, tags) {
				t.Errorf("GetFunction Tags = %v, want %v", got.Tags, tags)
			}
			if got.Concurrency != nil && got.Concurrency.ReservedConcurrentExecutions != nil {
				t.Errorf("GetFunction Concurrency = %d, want none reserved", *got.Concurrency.ReservedConcurrentExecutions)
			}
			if got.Code == nil || deref(got.Code.RepositoryType) != "S3" {
				t.Fatalf("GetFunction Code = %s, want RepositoryType S3 and a Location", jsonOf(t, got.Code))
			}
			// Code.Location is fetched with plain HTTP, without AWS credentials.
			loc := deref(got.Code.Location)
			status, body := download(t, loc)
			if status != 200 || string(body) != string(zip) {
				t.Errorf("GET Code.Location = %d with %d bytes, want 200 with the %d bytes uploaded", status, len(body), len(zip))
			}
			checkTamperedLocation(t, loc)

			v1 := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
			checkConfig(t, "GetFunction Qualifier=1", *v1.Configuration, want)
			if status, body := download(t, deref(v1.Code.Location)); status != 200 || string(body) != string(zip) {
				t.Errorf("GET version 1's Code.Location = %d with %d bytes, want the zip", status, len(body))
			}

			gfc := configOf(t, call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)}))
			checkConfig(t, "GetFunctionConfiguration", gfc, latest)
			if a, b := jsonOf(t, gfc), jsonOf(t, got.Configuration); a != b {
				t.Errorf("GetFunctionConfiguration and GetFunction.Configuration differ:\n%s\n%s", a, b)
			}
		})
	}
}

// checkTamperedLocation checks that a code URL only works exactly as issued.
func checkTamperedLocation(t *testing.T, loc string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("Code.Location %q: %v", loc, err)
	}
	q := u.Query()
	if q.Get("Signature") == "" || q.Get("Expires") == "" {
		t.Fatalf("Code.Location %q carries no Signature and Expires", loc)
	}
	tamper := func(what string, f func(u *url.URL, q url.Values)) {
		u2 := *u
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = append([]string(nil), v...)
		}
		f(&u2, q2)
		u2.RawQuery = q2.Encode()
		if status, body := download(t, u2.String()); status != 403 {
			t.Errorf("GET Code.Location with %s = %d %q, want 403", what, status, body)
		}
	}
	tamper("a changed Signature", func(_ *url.URL, q url.Values) {
		sig := []byte(q.Get("Signature"))
		if sig[0] == 'a' {
			sig[0] = 'b'
		} else {
			sig[0] = 'a'
		}
		q.Set("Signature", string(sig))
	})
	tamper("no Signature", func(_ *url.URL, q url.Values) { q.Del("Signature") })
	tamper("a later Expires", func(_ *url.URL, q url.Values) { q.Set("Expires", "99999999999") })
	tamper("another digest", func(u *url.URL, _ url.Values) {
		u.Path = u.Path[:len(u.Path)-1] + map[bool]string{true: "0", false: "1"}[!strings.HasSuffix(u.Path, "0")]
	})
}

// TestFunctionNameForms names one function every way Lambda accepts.
func TestFunctionNameForms(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("names")
	createFunction(t, c, name, func(in *lambda.CreateFunctionInput) { in.Publish = true })
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), MemorySize: aws.Int32(512)})
	call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("2")})

	arn := functionArn(name)
	ok := []struct {
		id, qualifier, wantVersion, wantArn string
	}{
		{name, "", "$LATEST", arn},
		{accountID + ":function:" + name, "", "$LATEST", arn},
		{arn, "", "$LATEST", arn},
		{arn + ":1", "", "1", arn + ":1"},
		{accountID + ":function:" + name + ":2", "", "2", arn + ":2"},
		{name + ":1", "", "1", arn + ":1"},
		{name + ":1", "1", "1", arn + ":1"},
		{name, "2", "2", arn + ":2"},
		{arn, "1", "1", arn + ":1"},
		{arn + ":live", "", "2", arn + ":live"},
		{name, "live", "2", arn + ":live"},
	}
	for _, tc := range ok {
		what := fmt.Sprintf("FunctionName=%q Qualifier=%q", tc.id, tc.qualifier)
		in := &lambda.GetFunctionInput{FunctionName: aws.String(tc.id)}
		if tc.qualifier != "" {
			in.Qualifier = aws.String(tc.qualifier)
		}
		out, err := c.GetFunction(ctxT(t), in)
		if err != nil {
			t.Errorf("GetFunction %s: %v", what, err)
			continue
		}
		if got := deref(out.Configuration.Version); got != tc.wantVersion {
			t.Errorf("GetFunction %s: Version = %q, want %q", what, got, tc.wantVersion)
		}
		if got := deref(out.Configuration.FunctionArn); got != tc.wantArn {
			t.Errorf("GetFunction %s: FunctionArn = %q, want %q", what, got, tc.wantArn)
		}
		wantMem := int32(128)
		if tc.wantVersion != "1" {
			wantMem = 512
		}
		if got := deref(out.Configuration.MemorySize); got != wantMem {
			t.Errorf("GetFunction %s: MemorySize = %d, want %d (the version's)", what, got, wantMem)
		}
		cfg, err := c.GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: in.FunctionName, Qualifier: in.Qualifier})
		if err != nil {
			t.Errorf("GetFunctionConfiguration %s: %v", what, err)
		} else if deref(cfg.Version) != tc.wantVersion {
			t.Errorf("GetFunctionConfiguration %s: Version = %q, want %q", what, deref(cfg.Version), tc.wantVersion)
		}
	}

	_, err := c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name + ":1"), Qualifier: aws.String("2")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "qualifier")
	_, err = c.GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(arn + ":1"), Qualifier: aws.String("live")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "qualifier")

	missing := uniqueName("missing")
	_, err = c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(missing)})
	wantAPIError(t, err, "ResourceNotFoundException", 404, "Function not found: "+functionArn(missing))
	_, err = c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("7")})
	wantAPIError(t, err, "ResourceNotFoundException", 404, arn+":7")
	_, err = c.GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String("nosuchalias")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:" + name + ":1:2")})
	if err == nil || httpStatus(err) != 400 {
		t.Errorf("GetFunction with two qualifiers in the ARN: %v, want a 400", err)
	}
}

// TestQualifiedArns checks the FunctionArn Lambda reports when a request names a
// version explicitly (AWS qualifies it, even for $LATEST) and when CreateFunction
// publishes (AWS answers with version 1's configuration but the function's ARN).
// Recorded from AWS by LocalStack's snapshot tests (test_lambda_api.snapshot.json,
// TestLambdaVersions::test_publish_version_on_create).
func TestQualifiedArns(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("arns")
	arn := functionArn(name)
	created := createFunction(t, c, name, func(in *lambda.CreateFunctionInput) { in.Publish = true })
	t.Run("CreateFunction with Publish", func(t *testing.T) {
		if got := deref(created.Version); got != "1" {
			t.Errorf("Version = %q, want 1", got)
		}
		if got := deref(created.FunctionArn); got != arn {
			t.Errorf("FunctionArn = %q, want the unqualified %q, as AWS answers CreateFunction with Publish=true", got, arn)
		}
	})
	t.Run("GetFunction Qualifier=$LATEST", func(t *testing.T) {
		out := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("$LATEST")})
		if got := deref(out.Configuration.FunctionArn); got != arn+":$LATEST" {
			t.Errorf("FunctionArn = %q, want %q", got, arn+":$LATEST")
		}
	})
	t.Run("ListVersionsByFunction $LATEST", func(t *testing.T) {
		out := call(t, c.ListVersionsByFunction, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(name)})
		if len(out.Versions) != 2 {
			t.Fatalf("Versions = %s, want $LATEST and 1", jsonOf(t, out.Versions))
		}
		if got := deref(out.Versions[0].FunctionArn); got != arn+":$LATEST" {
			t.Errorf("Versions[0].FunctionArn = %q, want %q", got, arn+":$LATEST")
		}
		if got := deref(out.Versions[1].FunctionArn); got != arn+":1" {
			t.Errorf("Versions[1].FunctionArn = %q, want %q", got, arn+":1")
		}
	})
	t.Run("GetFunction unqualified", func(t *testing.T) {
		out := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if got := deref(out.Configuration.FunctionArn); got != arn {
			t.Errorf("FunctionArn = %q, want %q", got, arn)
		}
	})
}

// TestUpdateFunctionCode replaces code, publishes with it, and checks the guards.
func TestUpdateFunctionCode(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("code")
	zip1 := pythonZip(t, name+"-1")
	created := createFunction(t, c, name, func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = zip1 })

	zip2 := pythonZip(t, name+"-2")
	upd := call(t, c.UpdateFunctionCode, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip2})
	if deref(upd.CodeSha256) != sha256B64(zip2) || upd.CodeSize != int64(len(zip2)) {
		t.Errorf("UpdateFunctionCode: CodeSha256 %q CodeSize %d, want %q %d", deref(upd.CodeSha256), upd.CodeSize, sha256B64(zip2), len(zip2))
	}
	if deref(upd.CodeSha256) == deref(created.CodeSha256) {
		t.Errorf("UpdateFunctionCode did not change CodeSha256")
	}
	if deref(upd.RevisionId) == deref(created.RevisionId) || !reUUID.MatchString(deref(upd.RevisionId)) {
		t.Errorf("UpdateFunctionCode: RevisionId %q, want a new UUID (was %q)", deref(upd.RevisionId), deref(created.RevisionId))
	}
	if deref(upd.Version) != "$LATEST" || deref(upd.FunctionArn) != functionArn(name) || !reLastModified.MatchString(deref(upd.LastModified)) {
		t.Errorf("UpdateFunctionCode answered %s", jsonOf(t, upd))
	}
	if upd.LastUpdateStatus != types.LastUpdateStatusSuccessful {
		t.Errorf("LastUpdateStatus = %q", upd.LastUpdateStatus)
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(c).Wait(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Errorf("FunctionUpdatedV2 waiter: %v", err)
	}
	got := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if _, body := download(t, deref(got.Code.Location)); string(body) != string(zip2) {
		t.Errorf("Code.Location after UpdateFunctionCode serves %d bytes, not the new zip", len(body))
	}
	if deref(got.Configuration.RevisionId) != deref(upd.RevisionId) {
		t.Errorf("GetFunction RevisionId %q != UpdateFunctionCode's %q", deref(got.Configuration.RevisionId), deref(upd.RevisionId))
	}

	// Publish=true publishes the new code as a version.
	zip3 := pythonZip(t, name+"-3")
	pub := call(t, c.UpdateFunctionCode, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip3, Publish: true})
	if deref(pub.Version) != "1" || deref(pub.FunctionArn) != functionArn(name)+":1" || deref(pub.CodeSha256) != sha256B64(zip3) {
		t.Errorf("UpdateFunctionCode Publish=true answered Version %q Arn %q CodeSha256 %q, want 1 and the new code", deref(pub.Version), deref(pub.FunctionArn), deref(pub.CodeSha256))
	}
	v1 := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	if _, body := download(t, deref(v1.Code.Location)); string(body) != string(zip3) {
		t.Errorf("version 1 serves %d bytes, not the zip it was published with", len(body))
	}

	before := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	unchanged := func(what string) {
		t.Helper()
		after := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if a, b := jsonOf(t, configOf(t, before)), jsonOf(t, configOf(t, after)); a != b {
			t.Errorf("%s changed the function:\nbefore %s\nafter  %s", what, a, b)
		}
	}

	// A stale RevisionId is refused and changes nothing.
	_, err := c.UpdateFunctionCode(ctxT(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: pythonZip(t, "stale"), RevisionId: created.RevisionId})
	wantAPIError(t, err, "PreconditionFailedException", 412, "Revision Id")
	unchanged("UpdateFunctionCode with a stale RevisionId")

	// DryRun validates and changes nothing.
	zip4 := pythonZip(t, name+"-4")
	dry, err := c.UpdateFunctionCode(ctxT(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip4, DryRun: true})
	if err != nil {
		t.Errorf("UpdateFunctionCode DryRun: %v", err)
	} else if deref(dry.CodeSha256) != sha256B64(zip4) {
		t.Logf("DryRun answered CodeSha256 %q", deref(dry.CodeSha256))
	}
	unchanged("UpdateFunctionCode DryRun")
	_, err = c.UpdateFunctionCode(ctxT(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: []byte("not a zip"), DryRun: true})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "unzip")

	// Bad code is refused and changes nothing.
	_, err = c.UpdateFunctionCode(ctxT(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: []byte("PK\x03\x04 definitely not a zip")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "unzip")
	unchanged("UpdateFunctionCode with bad code")

	// The current RevisionId is accepted.
	ok := call(t, c.UpdateFunctionCode, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip4, RevisionId: before.RevisionId})
	if deref(ok.CodeSha256) != sha256B64(zip4) {
		t.Errorf("UpdateFunctionCode with the current RevisionId: CodeSha256 %q, want %q", deref(ok.CodeSha256), sha256B64(zip4))
	}

	missing := uniqueName("missing")
	_, err = c.UpdateFunctionCode(ctxT(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(missing), ZipFile: zip4})
	wantAPIError(t, err, "ResourceNotFoundException", 404, missing)
}

// TestUpdateFunctionConfiguration changes some settings and keeps the rest.
func TestUpdateFunctionConfiguration(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("config")
	zip := pythonZip(t, name)
	tags := map[string]string{"keep": "me"}
	created := createFunction(t, c, name, func(in *lambda.CreateFunctionInput) {
		in.Code.ZipFile = zip
		in.Description = aws.String("original")
		in.MemorySize = aws.Int32(256)
		in.Timeout = aws.Int32(10)
		in.Environment = &types.Environment{Variables: map[string]string{"AA": "1", "BB": "2"}}
		in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(1024)}
		in.Tags = tags
	})
	want := spec{name: name, runtime: "python3.12", handler: "lambda_function.lambda_handler", description: "original", version: "$LATEST",
		memory: 256, timeout: 10, ephemeral: 1024, env: map[string]string{"AA": "1", "BB": "2"}, arch: types.ArchitectureX8664, zip: zip}
	checkConfig(t, "CreateFunction", configOf(t, created), want)

	// Only MemorySize.
	upd := call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), MemorySize: aws.Int32(512)})
	want.memory = 512
	checkConfig(t, "UpdateFunctionConfiguration MemorySize", configOf(t, upd), want)
	if deref(upd.RevisionId) == deref(created.RevisionId) {
		t.Errorf("RevisionId did not change")
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(c).Wait(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Errorf("FunctionUpdatedV2 waiter: %v", err)
	}
	got := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	checkConfig(t, "GetFunction after MemorySize", *got.Configuration, want)
	if !reflect.DeepEqual(got.Tags, tags) {
		t.Errorf("Tags = %v after a configuration update, want %v", got.Tags, tags)
	}

	// Environment is replaced as a whole, not merged.
	upd = call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
		Environment: &types.Environment{Variables: map[string]string{"CC": "3"}}, Description: aws.String("second"), Timeout: aws.Int32(60)})
	want.env, want.description, want.timeout = map[string]string{"CC": "3"}, "second", 60
	checkConfig(t, "UpdateFunctionConfiguration Environment", configOf(t, upd), want)

	// Other settings one by one.
	upd = call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
		EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(2048)}, Runtime: types.RuntimePython313, Handler: aws.String("pkg.app.main")})
	want.ephemeral, want.runtime, want.handler = 2048, "python3.13", "pkg.app.main"
	checkConfig(t, "UpdateFunctionConfiguration Runtime/Handler/EphemeralStorage", configOf(t, upd), want)

	// An empty Environment removes the variables.
	upd = call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Environment: &types.Environment{}})
	want.env = nil
	checkConfig(t, "UpdateFunctionConfiguration empty Environment", configOf(t, upd), want)

	before := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	unchanged := func(what string) {
		t.Helper()
		after := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if a, b := jsonOf(t, configOf(t, before)), jsonOf(t, configOf(t, after)); a != b {
			t.Errorf("%s changed the function:\nbefore %s\nafter  %s", what, a, b)
		}
	}
	_, err := c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), MemorySize: aws.Int32(1024), RevisionId: created.RevisionId})
	wantAPIError(t, err, "PreconditionFailedException", 412, "Revision Id")
	unchanged("UpdateFunctionConfiguration with a stale RevisionId")

	// One invalid member refuses the whole update.
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), MemorySize: aws.Int32(1024), Timeout: aws.Int32(0)})
	wantAPIError(t, err, "ValidationException", 400, "timeout")
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Description: aws.String("x"), MemorySize: aws.Int32(127)})
	wantAPIError(t, err, "ValidationException", 400, "memorySize")
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Description: aws.String("x"), Handler: aws.String("nohandler")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "nohandler")
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Environment: &types.Environment{Variables: map[string]string{"AWS_REGION": "eu-west-1"}}})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "AWS_REGION")
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Layers: []string{"arn:aws:lambda:us-east-1:000000000000:layer:x:1"}})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Layers")
	unchanged("refused UpdateFunctionConfiguration calls")

	ok := call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Description: aws.String("third"), RevisionId: before.RevisionId})
	if deref(ok.Description) != "third" {
		t.Errorf("Description = %q, want third", deref(ok.Description))
	}
	missing := uniqueName("missing")
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(missing), Description: aws.String("x")})
	wantAPIError(t, err, "ResourceNotFoundException", 404, missing)
}

// TestDeleteAndRecreate deletes a function with versions, aliases, a reservation and
// tags, and creates one of the same name: nothing of the old one may show through.
func TestDeleteAndRecreate(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("recreate")
	createFunction(t, c, name, func(in *lambda.CreateFunctionInput) {
		in.Publish = true
		in.Tags = map[string]string{"old": "yes"}
	})
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(3)})

	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	_, err := c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	wantAPIError(t, err, "ResourceNotFoundException", 404, functionArn(name))
	_, err = c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c.GetAlias(ctxT(t), &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c.DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	wantAPIError(t, err, "ResourceNotFoundException", 404)

	zip := pythonZip(t, name+"-new")
	createFunction(t, c, name, func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = zip })
	got := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if len(got.Tags) != 0 {
		t.Errorf("the new function has the old one's tags: %v", got.Tags)
	}
	if got.Concurrency != nil && got.Concurrency.ReservedConcurrentExecutions != nil {
		t.Errorf("the new function has the old one's reservation: %d", *got.Concurrency.ReservedConcurrentExecutions)
	}
	if deref(got.Configuration.CodeSha256) != sha256B64(zip) {
		t.Errorf("the new function has CodeSha256 %q, want its own code's", deref(got.Configuration.CodeSha256))
	}
	vers := call(t, c.ListVersionsByFunction, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(name)})
	if len(vers.Versions) != 1 || deref(vers.Versions[0].Version) != "$LATEST" {
		t.Errorf("the new function lists versions %s, want only $LATEST", jsonOf(t, vers.Versions))
	}
	aliases := call(t, c.ListAliases, &lambda.ListAliasesInput{FunctionName: aws.String(name)})
	if len(aliases.Aliases) != 0 {
		t.Errorf("the new function lists the old one's aliases: %s", jsonOf(t, aliases.Aliases))
	}
	conc := call(t, c.GetFunctionConcurrency, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)})
	if conc.ReservedConcurrentExecutions != nil {
		t.Errorf("GetFunctionConcurrency = %d for the new function, want none", *conc.ReservedConcurrentExecutions)
	}
	_, err = c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	pub := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if deref(pub.Version) != "1" {
		t.Errorf("the new function's first version is %q, want 1", deref(pub.Version))
	}
}

// TestTracingLoggingKMS: settings Hearth stores and reports without acting on them
// yet are stored and reported exactly.
func TestTracingLoggingKMS(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("settings")
	kms := "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555"
	created := createFunction(t, c, name, func(in *lambda.CreateFunctionInput) {
		in.TracingConfig = &types.TracingConfig{Mode: types.TracingModeActive}
		in.LoggingConfig = &types.LoggingConfig{LogFormat: types.LogFormatJson, ApplicationLogLevel: types.ApplicationLogLevelDebug,
			SystemLogLevel: types.SystemLogLevelWarn, LogGroup: aws.String("/custom/group")}
		in.KMSKeyArn = aws.String(kms)
	})
	check := func(what string, c types.FunctionConfiguration, mode types.TracingMode, format types.LogFormat, app types.ApplicationLogLevel, group string) {
		t.Helper()
		if c.TracingConfig == nil || c.TracingConfig.Mode != mode {
			t.Errorf("%s: TracingConfig = %s, want Mode %s", what, jsonOf(t, c.TracingConfig), mode)
		}
		if c.LoggingConfig == nil || c.LoggingConfig.LogFormat != format || c.LoggingConfig.ApplicationLogLevel != app || deref(c.LoggingConfig.LogGroup) != group {
			t.Errorf("%s: LoggingConfig = %s, want %s/%s/%s", what, jsonOf(t, c.LoggingConfig), format, app, group)
		}
		if deref(c.KMSKeyArn) != kms {
			t.Errorf("%s: KMSKeyArn = %q", what, deref(c.KMSKeyArn))
		}
	}
	check("CreateFunction", configOf(t, created), types.TracingModeActive, types.LogFormatJson, types.ApplicationLogLevelDebug, "/custom/group")
	got := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	check("GetFunctionConfiguration", configOf(t, got), types.TracingModeActive, types.LogFormatJson, types.ApplicationLogLevelDebug, "/custom/group")

	upd := call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
		TracingConfig: &types.TracingConfig{Mode: types.TracingModePassThrough}, LoggingConfig: &types.LoggingConfig{LogFormat: types.LogFormatText}})
	check("UpdateFunctionConfiguration", configOf(t, upd), types.TracingModePassThrough, types.LogFormatText, "", "/aws/lambda/"+name)

	_, err := c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
		LoggingConfig: &types.LoggingConfig{LogFormat: types.LogFormatText, ApplicationLogLevel: types.ApplicationLogLevelInfo}})
	wantAPIError(t, err, "InvalidParameterValueException", 400)
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
		TracingConfig: &types.TracingConfig{Mode: "Sometimes"}})
	wantAPIError(t, err, "ValidationException", 400)
}

// TestBoundaries: the limits themselves are allowed.
func TestBoundaries(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	long := uniqueName("b")
	long += strings.Repeat("x", 64-len(long))
	for _, tc := range []struct {
		name string
		mod  func(in *lambda.CreateFunctionInput)
	}{
		{long, func(in *lambda.CreateFunctionInput) {}},
		{uniqueName("bmin"), func(in *lambda.CreateFunctionInput) {
			in.MemorySize, in.Timeout, in.EphemeralStorage = aws.Int32(128), aws.Int32(1), &types.EphemeralStorage{Size: aws.Int32(512)}
		}},
		{uniqueName("bmax"), func(in *lambda.CreateFunctionInput) {
			in.MemorySize, in.Timeout, in.EphemeralStorage = aws.Int32(10240), aws.Int32(900), &types.EphemeralStorage{Size: aws.Int32(10240)}
			in.Description = aws.String(strings.Repeat("d", 256))
		}},
	} {
		out, err := c.CreateFunction(ctxT(t), func() *lambda.CreateFunctionInput {
			in := createInput(tc.name, pythonZip(t, tc.name))
			tc.mod(in)
			return in
		}())
		if err != nil {
			t.Errorf("CreateFunction %s at the limits: %v", tc.name, err)
			continue
		}
		if deref(out.FunctionName) != tc.name {
			t.Errorf("FunctionName = %q", deref(out.FunctionName))
		}
	}
	name := uniqueName("bpub")
	createFunction(t, c, name)
	_, err := c.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String(strings.Repeat("d", 257))})
	wantAPIError(t, err, "ValidationException", 400, "description")
	call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String(strings.Repeat("d", 256))})
	_, err = c.CreateAlias(ctxT(t), &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("a"), FunctionVersion: aws.String("1"), Description: aws.String(strings.Repeat("d", 257))})
	wantAPIError(t, err, "ValidationException", 400, "description")
	alias := strings.Repeat("a", 128)
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String(alias), FunctionVersion: aws.String("1")})
	call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String(alias)})
}
