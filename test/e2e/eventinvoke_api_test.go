package e2e

// The configuration of asynchronous invocation, end to end through aws-sdk-go-v2:
// EventInvokeConfigs on $LATEST, a version and an alias (Put replaces, Update
// merges, Get, List with paging, Delete), what goes with a deleted alias, version or
// function, recursive loop detection, and DeadLetterConfig on the function's
// configuration. Messages are AWS's, as LocalStack's AWS-recorded snapshots have them
// (shared/reference/lambda-async-concurrency.md §1.2–1.4, §1.7); where Hearth cannot
// deliver (SNS, EventBridge, S3) it says so in its own words.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// wantExactError checks the code, status and the whole message.
func wantExactError(t testing.TB, err error, code string, status int, msg string) {
	t.Helper()
	wantAPIError(t, err, code, status)
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorMessage() != msg {
		t.Errorf("%s message\n got %q\nwant %q", code, apiErr.ErrorMessage(), msg)
	}
}

func putEIC(t testing.TB, c *lambda.Client, fn, qualifier string, mod func(*lambda.PutFunctionEventInvokeConfigInput)) (*lambda.PutFunctionEventInvokeConfigOutput, error) {
	in := &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(fn)}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	if mod != nil {
		mod(in)
	}
	return c.PutFunctionEventInvokeConfig(ctxT(t), in)
}

func updateEIC(t testing.TB, c *lambda.Client, fn, qualifier string, mod func(*lambda.UpdateFunctionEventInvokeConfigInput)) (*lambda.UpdateFunctionEventInvokeConfigOutput, error) {
	in := &lambda.UpdateFunctionEventInvokeConfigInput{FunctionName: aws.String(fn)}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	if mod != nil {
		mod(in)
	}
	return c.UpdateFunctionEventInvokeConfig(ctxT(t), in)
}

func getEIC(t testing.TB, c *lambda.Client, fn, qualifier string) (*lambda.GetFunctionEventInvokeConfigOutput, error) {
	in := &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String(fn)}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	return c.GetFunctionEventInvokeConfig(ctxT(t), in)
}

func deleteEIC(t testing.TB, c *lambda.Client, fn, qualifier string) error {
	in := &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String(fn)}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	_, err := c.DeleteFunctionEventInvokeConfig(ctxT(t), in)
	return err
}

// listEIC pages through a function's configs with MaxItems n and returns their ARNs.
func listEIC(t testing.TB, c *lambda.Client, fn string, n int32) []string {
	t.Helper()
	var arns []string
	var marker *string
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("ListFunctionEventInvokeConfigs never ends")
		}
		out := call(t, c.ListFunctionEventInvokeConfigs, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String(fn), MaxItems: aws.Int32(n), Marker: marker})
		if len(out.FunctionEventInvokeConfigs) > int(n) {
			t.Fatalf("page of %d with MaxItems %d", len(out.FunctionEventInvokeConfigs), n)
		}
		for _, c := range out.FunctionEventInvokeConfigs {
			arns = append(arns, deref(c.FunctionArn))
		}
		if out.NextMarker == nil || *out.NextMarker == "" {
			return arns
		}
		marker = out.NextMarker
	}
}

func onFailure(arn string) *types.DestinationConfig {
	return &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String(arn)}}
}

func onSuccess(arn string) *types.DestinationConfig {
	return &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String(arn)}}
}

func TestEventInvokeConfigErrors(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	f := uniqueName("eic-err")
	g := uniqueName("eic-dest")
	publishN(t, c, f, 1)
	createAlias(t, c, f, "live", "1")
	createFunction(t, c, g)
	fArn, gArn := functionArn(f), functionArn(g)
	missing := uniqueName("eic-missing")

	retries := func(n int32) func(*lambda.PutFunctionEventInvokeConfigInput) {
		return func(in *lambda.PutFunctionEventInvokeConfigInput) { in.MaximumRetryAttempts = aws.Int32(n) }
	}
	age := func(n int32) func(*lambda.PutFunctionEventInvokeConfigInput) {
		return func(in *lambda.PutFunctionEventInvokeConfigInput) { in.MaximumEventAgeInSeconds = aws.Int32(n) }
	}
	dests := func(d *types.DestinationConfig) func(*lambda.PutFunctionEventInvokeConfigInput) {
		return func(in *lambda.PutFunctionEventInvokeConfigInput) { in.DestinationConfig = d }
	}
	const arnPattern = `$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)`
	cases := []struct {
		name, fn, qualifier string
		mod                 func(*lambda.PutFunctionEventInvokeConfigInput)
		code                string
		status              int
		msg                 string // exact; a trailing "*" is a prefix
	}{
		{"no settings", f, "", nil, "InvalidParameterValueException", 400, "You must specify at least one of error handling or destination setting."},
		{"retries above 2", f, "", retries(3), "ValidationException", 400, "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"},
		{"retries below 0", f, "", retries(-1), "ValidationException", 400, "1 validation error detected: Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value greater than or equal to 0"},
		{"age below 60", f, "", age(59), "ValidationException", 400, "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"},
		{"age above 6 h", f, "", age(21601), "ValidationException", 400, "1 validation error detected: Value '21601' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value less than or equal to 21600"},
		{"unknown function", missing, "", retries(1), "ResourceNotFoundException", 404, "The function doesn't exist."},
		{"unknown version", f, "9", retries(1), "ResourceNotFoundException", 404, "The function doesn't exist."},
		{"unknown alias", f, "nope", retries(1), "ResourceNotFoundException", 404, "The function doesn't exist."},
		{"qualifier mismatch", f + ":1", "live", retries(1), "InvalidParameterValueException", 400, "The derived qualifier from the function name does not match the specified qualifier."},
		{"self", f, "", dests(onSuccess(fArn)), "InvalidParameterValueException", 400, "You can't specify the function as a destination for itself."},
		{"self from alias", f, "live", dests(onFailure(fArn + ":1")), "InvalidParameterValueException", 400, "You can't specify the function as a destination for itself."},
		{"missing lambda", f, "", dests(onFailure(functionArn(missing))), "InvalidParameterValueException", 400, "The destination ARN " + functionArn(missing) + " is invalid."},
		{"lambda of another region", f, "", dests(onFailure("arn:aws:lambda:eu-west-1:" + accountID + ":function:" + g)), "InvalidParameterValueException", 400, "The destination ARN arn:aws:lambda:eu-west-1:" + accountID + ":function:" + g + " is invalid."},
		{"lambda of another account", f, "", dests(onFailure("arn:aws:lambda:" + region + ":111111111111:function:" + g)), "InvalidParameterValueException", 400, "The destination ARN arn:aws:lambda:" + region + ":111111111111:function:" + g + " is invalid."},
		{"queue not served", f, "", dests(onFailure("arn:aws:sqs:" + region + ":" + accountID + ":" + missing)), "InvalidParameterValueException", 400, "The destination ARN arn:aws:sqs:" + region + ":" + accountID + ":" + missing + " is invalid."},
		{"sns", f, "", dests(onSuccess("arn:aws:sns:" + region + ":" + accountID + ":topic")), "InvalidParameterValueException", 400, "Hearth cannot deliver to SNS topics yet*"},
		{"eventbridge", f, "", dests(onSuccess("arn:aws:events:" + region + ":" + accountID + ":event-bus/default")), "InvalidParameterValueException", 400, "Hearth cannot deliver to EventBridge event buses yet*"},
		{"s3", f, "", dests(onFailure("arn:aws:s3:::bucket")), "InvalidParameterValueException", 400, "Hearth cannot deliver to S3 buckets yet*"},
		{"other service", f, "", dests(onSuccess("arn:aws:iam::" + accountID + ":role/r")), "InvalidParameterValueException", 400, "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=arn:aws:iam::" + accountID + ":role/r), onFailure=null) is invalid."},
		{"malformed arn", f, "", dests(onFailure("invalid")), "ValidationException", 400, "1 validation error detected: Value 'invalid' at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must satisfy regular expression pattern: " + arnPattern},
	}
	for _, tc := range cases {
		_, err := putEIC(t, c, tc.fn, tc.qualifier, tc.mod)
		if p, ok := strings.CutSuffix(tc.msg, "*"); ok {
			wantAPIError(t, err, tc.code, tc.status, p)
			if err != nil && strings.Contains(tc.msg, "Hearth cannot deliver") {
				wantAPIError(t, err, tc.code, tc.status, "Lambda functions", "SQS queues")
			}
		} else {
			wantExactError(t, err, tc.code, tc.status, tc.msg)
		}
		if t.Failed() {
			t.Fatalf("case %q", tc.name)
		}
	}

	// Update: the same checks, and 404 when there is no config to update.
	_, err := updateEIC(t, c, f, "", nil)
	wantExactError(t, err, "InvalidParameterValueException", 400, "You must specify at least one of error handling or destination setting.")
	_, err = updateEIC(t, c, f, "live", func(in *lambda.UpdateFunctionEventInvokeConfigInput) { in.MaximumRetryAttempts = aws.Int32(1) })
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+fArn+":live doesn't have an EventInvokeConfig")
	_, err = updateEIC(t, c, missing, "", func(in *lambda.UpdateFunctionEventInvokeConfigInput) { in.MaximumRetryAttempts = aws.Int32(1) })
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function doesn't exist.")
	call(t, c.PutFunctionEventInvokeConfig, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(f), MaximumRetryAttempts: aws.Int32(1)})
	_, err = updateEIC(t, c, f, "", func(in *lambda.UpdateFunctionEventInvokeConfigInput) { in.DestinationConfig = onSuccess(fArn) })
	wantExactError(t, err, "InvalidParameterValueException", 400, "You can't specify the function as a destination for itself.")
	_, err = updateEIC(t, c, f, "", func(in *lambda.UpdateFunctionEventInvokeConfigInput) { in.MaximumEventAgeInSeconds = aws.Int32(30) })
	wantAPIError(t, err, "ValidationException", 400, "'maximumEventAgeInSeconds'", "greater than or equal to 60")

	// Get and Delete of a config that is not there name the qualified ARN.
	for _, q := range []string{"1", "live", "nope"} {
		_, err := getEIC(t, c, f, q)
		wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+fArn+":"+q+" doesn't have an EventInvokeConfig")
		err = deleteEIC(t, c, f, q)
		wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+fArn+":"+q+" doesn't have an EventInvokeConfig")
	}
	_, err = getEIC(t, c, g, "")
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+gArn+":$LATEST doesn't have an EventInvokeConfig")
	_, err = getEIC(t, c, missing, "")
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+functionArn(missing)+":$LATEST doesn't have an EventInvokeConfig")
	_, err = getEIC(t, c, f+":1", "live")
	wantExactError(t, err, "InvalidParameterValueException", 400, "The derived qualifier from the function name does not match the specified qualifier.")
	_, err = c.ListFunctionEventInvokeConfigs(ctxT(t), &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String(missing)})
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function doesn't exist.")
	for _, n := range []string{"0", "51"} {
		r := s.raw(t, "GET", "/2019-09-25/functions/"+f+"/event-invoke-config/list?MaxItems="+n, nil, rawOptions{})
		if typ, msg := r.errorDoc(t); r.Status != 400 || r.Header.Get("x-amzn-ErrorType") != "ValidationException" || typ != "User" || !strings.Contains(msg, "maxItems") {
			t.Errorf("MaxItems=%s: %d %s %s", n, r.Status, r.Header.Get("x-amzn-ErrorType"), r.Body)
		}
	}
}

func TestEventInvokeConfigRoundTrips(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	f := uniqueName("eic")
	g := uniqueName("eic-dest")
	publishN(t, c, f, 2)
	createAlias(t, c, f, "live", "1")
	createFunction(t, c, g)
	fArn, gArn := functionArn(f), functionArn(g)

	// $LATEST: Put with only retries answers (and Get returns) empty destinations
	// and no event age, under the qualified ARN.
	before := time.Now().Add(-time.Second)
	put, err := putEIC(t, c, f, "", func(in *lambda.PutFunctionEventInvokeConfigInput) { in.MaximumRetryAttempts = aws.Int32(1) })
	if err != nil {
		t.Fatal(err)
	}
	if deref(put.FunctionArn) != fArn+":$LATEST" || deref(put.MaximumRetryAttempts) != 1 || put.MaximumEventAgeInSeconds != nil {
		t.Fatalf("put: %s", jsonOf(t, put))
	}
	if put.LastModified == nil || put.LastModified.Before(before) || put.LastModified.After(time.Now().Add(time.Second)) {
		t.Fatalf("LastModified %v", put.LastModified)
	}
	r := s.raw(t, "GET", "/2019-09-25/functions/"+f+"/event-invoke-config", nil, rawOptions{})
	if r.Status != 200 {
		t.Fatalf("raw get: %d %s", r.Status, r.Body)
	}
	body := string(r.Body)
	if !strings.Contains(body, `"DestinationConfig":{"OnFailure":{},"OnSuccess":{}}`) || strings.Contains(body, "MaximumEventAgeInSeconds") ||
		!regexp.MustCompile(`"LastModified":\d{10}\.\d+[,}]`).MatchString(body) || !strings.Contains(body, `"FunctionArn":"`+fArn+`:$LATEST"`) {
		t.Fatalf("raw get: %s", body)
	}

	// Update merges: the retries stay.
	upd, err := updateEIC(t, c, f, "", func(in *lambda.UpdateFunctionEventInvokeConfigInput) {
		in.MaximumEventAgeInSeconds = aws.Int32(120)
		in.DestinationConfig = onFailure(gArn)
	})
	if err != nil {
		t.Fatal(err)
	}
	if deref(upd.MaximumRetryAttempts) != 1 || deref(upd.MaximumEventAgeInSeconds) != 120 || deref(upd.DestinationConfig.OnFailure.Destination) != gArn || upd.DestinationConfig.OnSuccess.Destination != nil {
		t.Fatalf("update: %s", jsonOf(t, upd))
	}
	// Naming one destination keeps the other.
	upd, err = updateEIC(t, c, f, "$LATEST", func(in *lambda.UpdateFunctionEventInvokeConfigInput) {
		in.DestinationConfig = onSuccess(gArn + ":$LATEST")
	})
	if err != nil || deref(upd.DestinationConfig.OnFailure.Destination) != gArn || deref(upd.DestinationConfig.OnSuccess.Destination) != gArn+":$LATEST" {
		t.Fatalf("update of one destination: %s %v", jsonOf(t, upd), err)
	}
	// A qualified destination must exist (g has no version 1).
	_, err = updateEIC(t, c, f, "", func(in *lambda.UpdateFunctionEventInvokeConfigInput) { in.DestinationConfig = onSuccess(gArn + ":1") })
	wantExactError(t, err, "InvalidParameterValueException", 400, "The destination ARN "+gArn+":1 is invalid.")
	got, err := getEIC(t, c, f, "$LATEST")
	if err != nil || deref(got.MaximumRetryAttempts) != 1 || deref(got.MaximumEventAgeInSeconds) != 120 || deref(got.DestinationConfig.OnFailure.Destination) != gArn {
		t.Fatalf("get: %s %v", jsonOf(t, got), err)
	}

	// Put replaces: what it leaves out is gone.
	put, err = putEIC(t, c, f, "", func(in *lambda.PutFunctionEventInvokeConfigInput) { in.MaximumEventAgeInSeconds = aws.Int32(3600) })
	if err != nil || put.MaximumRetryAttempts != nil || deref(put.MaximumEventAgeInSeconds) != 3600 || put.DestinationConfig.OnFailure.Destination != nil {
		t.Fatalf("put replaces: %s %v", jsonOf(t, put), err)
	}

	// A version (named in the function name), an alias (by ARN and Qualifier).
	put, err = putEIC(t, c, f+":2", "", func(in *lambda.PutFunctionEventInvokeConfigInput) {
		in.MaximumRetryAttempts = aws.Int32(0)
		in.DestinationConfig = onSuccess(gArn)
	})
	if err != nil || deref(put.FunctionArn) != fArn+":2" {
		t.Fatalf("version: %s %v", jsonOf(t, put), err)
	}
	put, err = putEIC(t, c, fArn, "live", func(in *lambda.PutFunctionEventInvokeConfigInput) { in.MaximumEventAgeInSeconds = aws.Int32(60) })
	if err != nil || deref(put.FunctionArn) != fArn+":live" {
		t.Fatalf("alias: %s %v", jsonOf(t, put), err)
	}
	if got, err := getEIC(t, c, f+":live", ""); err != nil || deref(got.MaximumEventAgeInSeconds) != 60 {
		t.Fatalf("get alias: %s %v", jsonOf(t, got), err)
	}
	if got, err := getEIC(t, c, f, "2"); err != nil || deref(got.DestinationConfig.OnSuccess.Destination) != gArn || deref(got.MaximumRetryAttempts) != 0 {
		t.Fatalf("get version: %s %v", jsonOf(t, got), err)
	}

	// List, whole and paged: $LATEST, versions, aliases.
	want := fArn + ":$LATEST " + fArn + ":2 " + fArn + ":live"
	for _, n := range []int32{50, 2, 1} {
		if got := strings.Join(listEIC(t, c, f, n), " "); got != want {
			t.Fatalf("list by %d: %s", n, got)
		}
	}
	if got := listEIC(t, c, g, 10); len(got) != 0 {
		t.Fatalf("g has configs: %v", got)
	}

	// Delete answers 204 and the config is gone.
	r = s.raw(t, "DELETE", "/2019-09-25/functions/"+f+"/event-invoke-config?Qualifier=2", nil, rawOptions{})
	if r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	_, err = getEIC(t, c, f, "2")
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+fArn+":2 doesn't have an EventInvokeConfig")

	// Deleting the alias and the version takes their configs; deleting the function
	// takes them all, and a function created again under the name starts with none.
	if _, err := putEIC(t, c, f, "2", func(in *lambda.PutFunctionEventInvokeConfigInput) { in.MaximumRetryAttempts = aws.Int32(2) }); err != nil {
		t.Fatal(err)
	}
	call(t, c.DeleteAlias, &lambda.DeleteAliasInput{FunctionName: aws.String(f), Name: aws.String("live")})
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(f), Qualifier: aws.String("2")})
	if got := strings.Join(listEIC(t, c, f, 10), " "); got != fArn+":$LATEST" {
		t.Fatalf("after DeleteAlias and deleting version 2: %s", got)
	}
	createAlias(t, c, f, "live", "1")
	_, err = getEIC(t, c, f, "live")
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+fArn+":live doesn't have an EventInvokeConfig")
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(f)})
	_, err = getEIC(t, c, f, "")
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+fArn+":$LATEST doesn't have an EventInvokeConfig")
	createFunction(t, c, f)
	_, err = getEIC(t, c, f, "")
	wantExactError(t, err, "ResourceNotFoundException", 404, "The function "+fArn+":$LATEST doesn't have an EventInvokeConfig")
	if got := listEIC(t, c, f, 10); len(got) != 0 {
		t.Fatalf("the new function has configs: %v", got)
	}
}

func TestEventInvokeConfigQueueDestination(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	f := uniqueName("eic-sqs")
	createFunction(t, c, f)
	queue := s.createDestinationQueue(t, uniqueName("eic-dlq"))

	put, err := putEIC(t, c, f, "", func(in *lambda.PutFunctionEventInvokeConfigInput) {
		in.DestinationConfig = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String(queue)}, OnSuccess: &types.OnSuccess{Destination: aws.String(queue)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if deref(put.DestinationConfig.OnFailure.Destination) != queue || deref(put.DestinationConfig.OnSuccess.Destination) != queue {
		t.Fatalf("put: %s", jsonOf(t, put))
	}
}

func TestRecursionConfigAPI(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	f := uniqueName("recursion")
	publishN(t, c, f, 1)

	got := call(t, c.GetFunctionRecursionConfig, &lambda.GetFunctionRecursionConfigInput{FunctionName: aws.String(f)})
	if got.RecursiveLoop != types.RecursiveLoopTerminate {
		t.Fatalf("default %q", got.RecursiveLoop)
	}
	put := call(t, c.PutFunctionRecursionConfig, &lambda.PutFunctionRecursionConfigInput{FunctionName: aws.String(f), RecursiveLoop: types.RecursiveLoopAllow})
	if put.RecursiveLoop != types.RecursiveLoopAllow {
		t.Fatalf("put answered %q", put.RecursiveLoop)
	}
	got = call(t, c.GetFunctionRecursionConfig, &lambda.GetFunctionRecursionConfigInput{FunctionName: aws.String(functionArn(f))})
	if got.RecursiveLoop != types.RecursiveLoopAllow {
		t.Fatalf("after put %q", got.RecursiveLoop)
	}

	_, err := c.PutFunctionRecursionConfig(ctxT(t), &lambda.PutFunctionRecursionConfigInput{FunctionName: aws.String(f), RecursiveLoop: "Sometimes"})
	wantExactError(t, err, "ValidationException", 400, "1 validation error detected: Value 'Sometimes' at 'recursiveLoop' failed to satisfy constraint: Member must satisfy enum value set: [Terminate, Allow]")
	_, err = c.PutFunctionRecursionConfig(ctxT(t), &lambda.PutFunctionRecursionConfigInput{FunctionName: aws.String(f + ":1"), RecursiveLoop: types.RecursiveLoopAllow})
	wantAPIError(t, err, "ValidationException", 400, "at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern")
	missing := uniqueName("recursion-missing")
	_, err = c.GetFunctionRecursionConfig(ctxT(t), &lambda.GetFunctionRecursionConfigInput{FunctionName: aws.String(missing)})
	wantExactError(t, err, "ResourceNotFoundException", 404, "Function not found: "+functionArn(missing))
	_, err = c.PutFunctionRecursionConfig(ctxT(t), &lambda.PutFunctionRecursionConfigInput{FunctionName: aws.String(missing), RecursiveLoop: types.RecursiveLoopAllow})
	wantExactError(t, err, "ResourceNotFoundException", 404, "Function not found: "+functionArn(missing))

	// A function created again under the name is back to Terminate.
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(f)})
	createFunction(t, c, f)
	got = call(t, c.GetFunctionRecursionConfig, &lambda.GetFunctionRecursionConfigInput{FunctionName: aws.String(f)})
	if got.RecursiveLoop != types.RecursiveLoopTerminate {
		t.Fatalf("recreated function: %q", got.RecursiveLoop)
	}
}

func TestDeadLetterConfigAPI(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	f := uniqueName("dlq")
	createFunction(t, c, f)
	dlq := func(arn string) *types.DeadLetterConfig { return &types.DeadLetterConfig{TargetArn: aws.String(arn)} }

	_, err := c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f), DeadLetterConfig: dlq("arn:aws:sns:" + region + ":" + accountID + ":topic")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "Hearth cannot deliver dead letters to SNS topics yet", "SQS queue")
	notServed := "arn:aws:sqs:" + region + ":" + accountID + ":" + uniqueName("nope")
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f), DeadLetterConfig: dlq(notServed)})
	wantAPIError(t, err, "InvalidParameterValueException", 400, notServed, "not a queue Hearth serves")
	_, err = c.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f), DeadLetterConfig: dlq("nonsense")})
	wantExactError(t, err, "ValidationException", 400, "1 validation error detected: Value 'nonsense' at 'deadLetterConfig.targetArn' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()")
	g := uniqueName("dlq-create")
	_, err = c.CreateFunction(ctxT(t), func() *lambda.CreateFunctionInput {
		in := createInput(g, pythonZip(t, g))
		in.DeadLetterConfig = dlq("arn:aws:sns:" + region + ":" + accountID + ":topic")
		return in
	}())
	wantAPIError(t, err, "InvalidParameterValueException", 400, "SNS")
	// An empty TargetArn is "none", as Terraform sends it.
	out := call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f), DeadLetterConfig: dlq("")})
	if out.DeadLetterConfig != nil && deref(out.DeadLetterConfig.TargetArn) != "" {
		t.Fatalf("empty TargetArn: %s", jsonOf(t, out.DeadLetterConfig))
	}

	queue := s.createDestinationQueue(t, uniqueName("dlq"))
	out = call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f), DeadLetterConfig: dlq(queue)})
	if deref(out.DeadLetterConfig.TargetArn) != queue {
		t.Fatalf("update answered %s", jsonOf(t, out.DeadLetterConfig))
	}
	if got := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(f)}); got.Configuration.DeadLetterConfig == nil || deref(got.Configuration.DeadLetterConfig.TargetArn) != queue {
		t.Fatalf("GetFunction: %s", jsonOf(t, got.Configuration))
	}
	v := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(f)})
	if v.DeadLetterConfig == nil || deref(v.DeadLetterConfig.TargetArn) != queue {
		t.Fatalf("PublishVersion: %s", jsonOf(t, v))
	}
	// Removing it from $LATEST leaves the published version's.
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f), DeadLetterConfig: dlq("")})
	if got := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(f)}); got.DeadLetterConfig != nil && deref(got.DeadLetterConfig.TargetArn) != "" {
		t.Fatalf("$LATEST after removal: %s", jsonOf(t, got.DeadLetterConfig))
	}
	if got := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(f), Qualifier: v.Version}); got.DeadLetterConfig == nil || deref(got.DeadLetterConfig.TargetArn) != queue {
		t.Fatalf("version after removal from $LATEST: %s", jsonOf(t, got.DeadLetterConfig))
	}
	h := uniqueName("dlq-create")
	created := createFunction(t, c, h, func(in *lambda.CreateFunctionInput) { in.DeadLetterConfig = dlq(queue) })
	if created.DeadLetterConfig == nil || deref(created.DeadLetterConfig.TargetArn) != queue {
		t.Fatalf("CreateFunction: %s", jsonOf(t, created.DeadLetterConfig))
	}
	found := false
	for p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{}); p.HasMorePages() && !found; {
		page, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, fc := range page.Functions {
			if deref(fc.FunctionName) == h {
				found = fc.DeadLetterConfig != nil && deref(fc.DeadLetterConfig.TargetArn) == queue
			}
		}
	}
	if !found {
		t.Fatalf("ListFunctions does not show %s's DeadLetterConfig", h)
	}
}

// createDestinationQueue creates an SQS queue on the server through SQS's JSON protocol and
// returns its ARN.
func (s *server) createDestinationQueue(t *testing.T, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"QueueName": name})
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, s.url()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonSQS.CreateQueue")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret},
		req, hex.EncodeToString(sum[:]), "sqs", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("CreateQueue: %d %s", resp.StatusCode, b)
	}
	var out struct{ QueueUrl string }
	if err := json.Unmarshal(b, &out); err != nil || out.QueueUrl == "" {
		t.Fatalf("CreateQueue answered %s", b)
	}
	return "arn:aws:sqs:" + region + ":" + accountID + ":" + name
}
