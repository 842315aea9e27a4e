package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// zipWithNames builds a zip whose entries have exactly these names (archive/zip's
// writer does not check them).
func zipWithNames(t testing.TB, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate, Modified: zipEpoch})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("print('hi')\n"))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestValidation sends hostile and invalid CreateFunction requests. Each must be a
// clean 4xx of Lambda's error type, create nothing, and leave the server healthy.
func TestValidation(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	okZip := pythonZip(t, "validation")
	bigEnv := map[string]string{}
	for i := 0; i < 50; i++ {
		bigEnv["VAR_"+strings.Repeat("X", 10)+string(rune('A'+i%26))+string(rune('A'+i/26))] = strings.Repeat("v", 80)
	}
	cases := []struct {
		name     string
		mod      func(in *lambda.CreateFunctionInput)
		code     string
		status   int
		fragment string
	}{
		{"name with a space", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String("bad name") }, "ValidationException", 400, "functionName"},
		{"name of 65 characters", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String(strings.Repeat("n", 65)) }, "InvalidParameterValueException", 400, "functionName"},
		{"name with a qualifier", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String(*in.FunctionName + ":1") }, "InvalidParameterValueException", 400, ""},
		{"memory 127", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(127) }, "ValidationException", 400, "memorySize"},
		{"memory 10241", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(10241) }, "InvalidParameterValueException", 400, "MemorySize"},
		{"memory 32769", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(32769) }, "ValidationException", 400, "memorySize"},
		{"timeout 0", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(0) }, "ValidationException", 400, "timeout"},
		{"timeout 901", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(901) }, "ValidationException", 400, "timeout"},
		{"ephemeral 511", func(in *lambda.CreateFunctionInput) {
			in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(511)}
		}, "ValidationException", 400, "ephemeralStorage"},
		{"ephemeral 10241", func(in *lambda.CreateFunctionInput) {
			in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(10241)}
		}, "ValidationException", 400, "ephemeralStorage"},
		{"environment over 4 KB", func(in *lambda.CreateFunctionInput) { in.Environment = &types.Environment{Variables: bigEnv} }, "InvalidParameterValueException", 400, "4KB"},
		{"reserved key AWS_REGION", func(in *lambda.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"AWS_REGION": "eu-west-1", "OK": "1"}}
		}, "InvalidParameterValueException", 400, "AWS_REGION"},
		{"environment key with a dash", func(in *lambda.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"BAD-KEY": "1"}}
		}, "ValidationException", 400, ""},
		{"python handler without a function", func(in *lambda.CreateFunctionInput) { in.Handler = aws.String("nohandler") }, "InvalidParameterValueException", 400, "nohandler"},
		{"handler with white space", func(in *lambda.CreateFunctionInput) { in.Handler = aws.String("lambda_function. handler") }, "ValidationException", 400, "handler"},
		{"unknown runtime", func(in *lambda.CreateFunctionInput) { in.Runtime = "cobol1" }, "InvalidParameterValueException", 400, "runtime"},
		{"deprecated runtime", func(in *lambda.CreateFunctionInput) { in.Runtime = types.RuntimePython27 }, "InvalidParameterValueException", 400, "python2.7"},
		{"runtime Hearth does not run", func(in *lambda.CreateFunctionInput) { in.Runtime = types.RuntimeJava21 }, "InvalidParameterValueException", 400, "java21"},
		{"bad role", func(in *lambda.CreateFunctionInput) { in.Role = aws.String("my-role") }, "ValidationException", 400, "role"},
		{"description over 256", func(in *lambda.CreateFunctionInput) { in.Description = aws.String(strings.Repeat("d", 257)) }, "ValidationException", 400, "description"},
		{"two architectures", func(in *lambda.CreateFunctionInput) {
			in.Architectures = []types.Architecture{types.ArchitectureX8664, types.ArchitectureArm64}
		}, "ValidationException", 400, "architectures"},
		{"unknown architecture", func(in *lambda.CreateFunctionInput) { in.Architectures = []types.Architecture{"sparc"} }, "ValidationException", 400, "architectures"},
		{"not a zip", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = []byte("this is not a zip file at all") }, "InvalidParameterValueException", 400, "unzip"},
		{"empty zip bytes", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = []byte{} }, "InvalidParameterValueException", 400, ""},
		{"zip bomb", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = zipBomb(t, 260<<20, false) }, "InvalidParameterValueException", 400, "Unzipped size"},
		{"zip bomb with lying headers", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = zipBomb(t, 260<<20, true) }, "InvalidParameterValueException", 400, "Unzipped size"},
		{"zip entry ../evil", func(in *lambda.CreateFunctionInput) {
			in.Code.ZipFile = zipWithNames(t, "lambda_function.py", "../evil")
		}, "InvalidParameterValueException", 400, "../evil"},
		{"zip entry a/../../evil", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = zipWithNames(t, "a/../../evil") }, "InvalidParameterValueException", 400, "evil"},
		{"zip entry with an absolute path", func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = zipWithNames(t, "/etc/evil") }, "InvalidParameterValueException", 400, "/etc/evil"},
		{"Layers", func(in *lambda.CreateFunctionInput) {
			in.Layers = []string{"arn:aws:lambda:us-east-1:000000000000:layer:deps:1"}
		}, "InvalidParameterValueException", 400, "Layers"},
		{"VpcConfig", func(in *lambda.CreateFunctionInput) {
			in.VpcConfig = &types.VpcConfig{SubnetIds: []string{"subnet-1"}, SecurityGroupIds: []string{"sg-1"}}
		}, "InvalidParameterValueException", 400, "VpcConfig"},
		{"PackageType Image", func(in *lambda.CreateFunctionInput) {
			in.PackageType = types.PackageTypeImage
			in.Code = &types.FunctionCode{ImageUri: aws.String("000000000000.dkr.ecr.us-east-1.amazonaws.com/x:1")}
		}, "InvalidParameterValueException", 400, "Image"},
		{"code from S3", func(in *lambda.CreateFunctionInput) {
			in.Code = &types.FunctionCode{S3Bucket: aws.String("b"), S3Key: aws.String("k.zip")}
		}, "InvalidParameterValueException", 400, "S3"},
	}
	var names []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := uniqueName("invalid")
			in := createInput(name, okZip)
			tc.mod(in)
			names = append(names, name)
			_, err := c.CreateFunction(ctxT(t), in)
			wantAPIError(t, err, tc.code, tc.status, tc.fragment)
		})
	}

	t.Run("zip over 50 MB", func(t *testing.T) {
		// Random bytes, stored: the archive is just over Lambda's 50 MB limit for a
		// direct upload, and its base64 request still under the 70167211-byte request
		// limit, so it is the zip's size that is refused: 413 RequestEntityTooLargeException
		// "Zipped size must be smaller than 52428800 bytes", as AWS answers (recorded
		// 2025-11-25, test_oversized_zipped_create_lambda).
		big := storedRandomZip(t, 50<<20+1024)
		if len(big) <= 52428800 {
			t.Fatalf("test zip is only %d bytes", len(big))
		}
		name := uniqueName("toolarge")
		names = append(names, name)
		_, err := c.CreateFunction(ctxT(t), createInput(name, big))
		wantAPIError(t, err, "RequestEntityTooLargeException", 413, "Zipped size must be smaller than 52428800 bytes")
	})

	t.Run("request over the size limit", func(t *testing.T) {
		// A request longer than 70167211 bytes (a 50 MB zip in base64 and the JSON
		// around it) is refused by its length, before its body is read (AWS: 413
		// RequestEntityTooLargeException, recorded 2025-11-25).
		body := make([]byte, 70167212)
		r := s.raw(t, http.MethodPost, "/2015-03-31/functions", body, rawOptions{})
		if r.Status != 413 || r.Header.Get("x-amzn-ErrorType") != "RequestEntityTooLargeException" {
			t.Errorf("CreateFunction with a %d-byte body: %d %q %.200s, want 413 RequestEntityTooLargeException", len(body), r.Status, r.Header.Get("x-amzn-ErrorType"), r.Body)
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		name := uniqueName("dup")
		createFunction(t, c, name)
		_, err := c.CreateFunction(ctxT(t), createInput(name, pythonZip(t, "other")))
		wantAPIError(t, err, "ResourceConflictException", 409, "Function already exist: "+name)
	})

	t.Run("malformed bodies", func(t *testing.T) {
		valid := func(mod func(m map[string]any)) []byte {
			m := map[string]any{
				"FunctionName": uniqueName("raw"), "Runtime": "python3.12", "Handler": "lambda_function.lambda_handler",
				"Role": testRole, "Code": map[string]any{"ZipFile": okZip},
			}
			mod(m)
			b, _ := json.Marshal(m)
			return b
		}
		bodies := []struct {
			what string
			body []byte
			code string
		}{
			{"truncated JSON", []byte(`{"FunctionName": "x", "Runtime": `), "InvalidRequestContentException"},
			{"not JSON", []byte(`FunctionName=x`), "InvalidRequestContentException"},
			{"a JSON array", []byte(`[1,2,3]`), "InvalidRequestContentException"},
			{"MemorySize as a string", valid(func(m map[string]any) { m["MemorySize"] = "big" }), "InvalidRequestContentException"},
			{"Timeout as a float", valid(func(m map[string]any) { m["Timeout"] = 3.5 }), "InvalidRequestContentException"},
			{"Publish as a string", valid(func(m map[string]any) { m["Publish"] = "yes" }), "InvalidRequestContentException"},
			{"ZipFile not base64", valid(func(m map[string]any) { m["Code"] = map[string]any{"ZipFile": "!!!not base64!!!"} }), "InvalidRequestContentException"},
			{"Environment as a list", valid(func(m map[string]any) { m["Environment"] = []string{"A=1"} }), "InvalidRequestContentException"},
			{"no Code", valid(func(m map[string]any) { delete(m, "Code") }), "ValidationException"},
		}
		for _, b := range bodies {
			r := s.raw(t, http.MethodPost, "/2015-03-31/functions", b.body, rawOptions{})
			if r.Status != 400 {
				t.Errorf("%s: status %d %s, want 400", b.what, r.Status, r.Body)
				continue
			}
			if got := r.Header.Get("x-amzn-ErrorType"); !strings.HasPrefix(got, b.code) {
				t.Errorf("%s: x-amzn-ErrorType %q, want %s", b.what, got, b.code)
			}
			typ, msg := r.errorDoc(t)
			if typ != "User" || msg == "" {
				t.Errorf("%s: error body %s, want Type User and a message", b.what, r.Body)
			}
			if r.Header.Get("x-amzn-RequestId") == "" {
				t.Errorf("%s: no x-amzn-RequestId", b.what)
			}
		}
		// The same on an update.
		name := uniqueName("rawupd")
		createFunction(t, c, name)
		r := s.raw(t, http.MethodPut, "/2015-03-31/functions/"+name+"/configuration", []byte(`{"MemorySize":"big"}`), rawOptions{})
		if r.Status != 400 || !strings.HasPrefix(r.Header.Get("x-amzn-ErrorType"), "InvalidRequestContentException") {
			t.Errorf("UpdateFunctionConfiguration {\"MemorySize\":\"big\"}: %d %s %s, want 400 InvalidRequestContentException", r.Status, r.Header.Get("x-amzn-ErrorType"), r.Body)
		}
		if cfg := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)}); deref(cfg.MemorySize) != 128 {
			t.Errorf("MemorySize = %d after a refused update", deref(cfg.MemorySize))
		}
	})

	t.Run("unknown path", func(t *testing.T) {
		for _, p := range []struct{ method, path string }{
			{http.MethodGet, "/2015-03-31/nonsense"},
			{http.MethodGet, "/"},
			{http.MethodPost, "/2015-03-31/functions/x/y/z"},
			{http.MethodGet, "/2099-01-01/functions"},
		} {
			r := s.raw(t, p.method, p.path, nil, rawOptions{})
			if r.Status != 404 || r.Header.Get("x-amzn-ErrorType") != "UnknownOperationException" {
				t.Errorf("%s %s: %d %s %s, want 404 UnknownOperationException", p.method, p.path, r.Status, r.Header.Get("x-amzn-ErrorType"), r.Body)
			}
			if _, msg := r.errorDoc(t); msg == "" {
				t.Errorf("%s %s: no message", p.method, p.path)
			}
		}
	})

	t.Run("operations Hearth does not implement", func(t *testing.T) {
		name := uniqueName("notimpl")
		createFunction(t, c, name)
		_, err := c.AddPermission(ctxT(t), &lambda.AddPermissionInput{FunctionName: aws.String(name), StatementId: aws.String("s1"),
			Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("s3.amazonaws.com")})
		wantAPIError(t, err, "NotImplementedException", 501, "AddPermission")
		_, err = c.ListLayers(ctxT(t), &lambda.ListLayersInput{})
		wantAPIError(t, err, "NotImplementedException", 501, "ListLayers")
		_, err = c.CreateFunctionUrlConfig(ctxT(t), &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String(name), AuthType: "NONE"})
		wantAPIError(t, err, "NotImplementedException", 501, "CreateFunctionUrlConfig")
		// What cannot be created yet, the reads answer as AWS does for a function
		// without it: Terraform reads the code signing config on every refresh.
		_, err = c.GetPolicy(ctxT(t), &lambda.GetPolicyInput{FunctionName: aws.String(name)})
		wantAPIError(t, err, "ResourceNotFoundException", 404, "The resource you requested does not exist.")
		_, err = c.GetFunctionUrlConfig(ctxT(t), &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String(name)})
		wantAPIError(t, err, "ResourceNotFoundException", 404, "The resource you requested does not exist.")
		csc, err := c.GetFunctionCodeSigningConfig(ctxT(t), &lambda.GetFunctionCodeSigningConfigInput{FunctionName: aws.String(name)})
		if err != nil || aws.ToString(csc.CodeSigningConfigArn) != "" || aws.ToString(csc.FunctionName) != name {
			t.Errorf("GetFunctionCodeSigningConfig: %+v, %v; want no config for %s", csc, err, name)
		}
		urls, err := c.ListFunctionUrlConfigs(ctxT(t), &lambda.ListFunctionUrlConfigsInput{FunctionName: aws.String(name)})
		if err != nil || len(urls.FunctionUrlConfigs) != 0 {
			t.Errorf("ListFunctionUrlConfigs: %+v, %v; want an empty list", urls, err)
		}
		// These servers run with --sandbox none: a control-plane-only node.
		_, err = c.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)})
		wantAPIError(t, err, "NotImplementedException", 501, "Invoke")
	})

	// Nothing refused was created, and the server still answers.
	for _, n := range names {
		if _, err := c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(n)}); errorCode(err) != "ResourceNotFoundException" {
			t.Errorf("GetFunction %s after a refused create: %v, want ResourceNotFoundException", n, err)
		}
	}
	if err := s.waitHealthy(5e9); err != nil {
		t.Error(err)
	}
	call(t, c.ListFunctions, &lambda.ListFunctionsInput{MaxItems: aws.Int32(1)})
}

// TestErrorMessages: an error's message is for people; it must not repeat the error
// type, which the SDKs already show (AWS: "InvalidParameterValueException: Could
// not unzip uploaded file...", never "...: InvalidParameterValueException: Could...").
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	cases := map[string]func() error{
		"not a zip": func() error {
			_, err := c.CreateFunction(ctxT(t), createInput(uniqueName("msg"), []byte("not a zip")))
			return err
		},
		"zip entry ../evil": func() error {
			_, err := c.CreateFunction(ctxT(t), createInput(uniqueName("msg"), zipWithNames(t, "../evil")))
			return err
		},
		"unknown function": func() error {
			_, err := c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(uniqueName("msg"))})
			return err
		},
		"memory 127": func() error {
			in := createInput(uniqueName("msg"), pythonZip(t, "m"))
			in.MemorySize = aws.Int32(127)
			_, err := c.CreateFunction(ctxT(t), in)
			return err
		},
	}
	for what, f := range cases {
		err := f()
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: %v, want an API error", what, err)
			continue
		}
		if strings.HasPrefix(apiErr.ErrorMessage(), apiErr.ErrorCode()) {
			t.Errorf("%s: the message repeats the error type: %q", what, apiErr.ErrorMessage())
		}
	}
}
