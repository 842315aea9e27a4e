package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func listVersions(t testing.TB, c *lambda.Client, name string) []types.FunctionConfiguration {
	t.Helper()
	var all []types.FunctionConfiguration
	p := lambda.NewListVersionsByFunctionPaginator(c, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatalf("ListVersionsByFunction %s: %v", name, err)
		}
		all = append(all, page.Versions...)
	}
	return all
}

func versionList(vs []types.FunctionConfiguration) string {
	var out []string
	for _, v := range vs {
		out = append(out, deref(v.Version))
	}
	return strings.Join(out, ",")
}

// TestPublishVersion publishes, republishes, guards and deletes versions.
func TestPublishVersion(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("versions")
	arn := functionArn(name)
	zip := pythonZip(t, name)
	created := createFunction(t, c, name, func(in *lambda.CreateFunctionInput) {
		in.Code.ZipFile = zip
		in.Description = aws.String("latest description")
	})
	if got := versionList(listVersions(t, c, name)); got != "$LATEST" {
		t.Errorf("versions of a new function = %s, want $LATEST", got)
	}

	v1 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String("first")})
	if deref(v1.Version) != "1" || deref(v1.FunctionArn) != arn+":1" || deref(v1.Description) != "first" || deref(v1.CodeSha256) != sha256B64(zip) {
		t.Errorf("first PublishVersion answered Version %q Arn %q Description %q CodeSha256 %q", deref(v1.Version), deref(v1.FunctionArn), deref(v1.Description), deref(v1.CodeSha256))
	}
	if v1.State != types.StateActive || !reUUID.MatchString(deref(v1.RevisionId)) || !reLastModified.MatchString(deref(v1.LastModified)) {
		t.Errorf("version 1: State %q RevisionId %q LastModified %q", v1.State, deref(v1.RevisionId), deref(v1.LastModified))
	}
	latest := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if deref(latest.Description) != "latest description" {
		t.Errorf("publishing with a Description changed $LATEST's to %q", deref(latest.Description))
	}

	// Nothing changed: the same version again, and no new one.
	again := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String("ignored")})
	if deref(again.Version) != "1" || deref(again.RevisionId) != deref(v1.RevisionId) || deref(again.Description) != "first" {
		t.Errorf("republishing an unchanged function answered version %q (RevisionId %q, Description %q), want version 1 unchanged", deref(again.Version), deref(again.RevisionId), deref(again.Description))
	}
	if got := versionList(listVersions(t, c, name)); got != "$LATEST,1" {
		t.Errorf("versions after an unchanged republish = %s, want $LATEST,1", got)
	}

	// A configuration change, then a code change: new versions 2 and 3.
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), MemorySize: aws.Int32(256)})
	v2 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if deref(v2.Version) != "2" || deref(v2.MemorySize) != 256 || deref(v2.Description) != "latest description" {
		t.Errorf("PublishVersion after a configuration change: Version %q MemorySize %d Description %q, want 2, 256 and $LATEST's description", deref(v2.Version), deref(v2.MemorySize), deref(v2.Description))
	}
	zip3 := pythonZip(t, name+"-3")
	upd := call(t, c.UpdateFunctionCode, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip3})

	// CodeSha256 and RevisionId guard what is published.
	_, err := c.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String(name), CodeSha256: aws.String(sha256B64(zip))})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "CodeSha256")
	_, err = c.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String(name), RevisionId: created.RevisionId})
	wantAPIError(t, err, "PreconditionFailedException", 412, "Revision Id")
	if got := versionList(listVersions(t, c, name)); got != "$LATEST,1,2" {
		t.Errorf("versions after refused publishes = %s, want $LATEST,1,2", got)
	}
	v3 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name), CodeSha256: aws.String(sha256B64(zip3)), RevisionId: upd.RevisionId})
	if deref(v3.Version) != "3" || deref(v3.CodeSha256) != sha256B64(zip3) {
		t.Errorf("PublishVersion after a code change: Version %q CodeSha256 %q, want 3 and the new code", deref(v3.Version), deref(v3.CodeSha256))
	}
	for i, want := range []*lambda.PublishVersionOutput{v1, v2, v3} {
		got := call(t, c.GetFunctionConfiguration, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String(strconv.Itoa(i + 1))})
		if a, b := jsonOf(t, configOf(t, got)), jsonOf(t, configOf(t, want)); a != b {
			t.Errorf("version %d reads back differently from how it was published:\n%s\n%s", i+1, a, b)
		}
	}

	// ListVersionsByFunction: $LATEST, then the versions in order; one per page.
	p := lambda.NewListVersionsByFunctionPaginator(c, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(name)}, func(o *lambda.ListVersionsByFunctionPaginatorOptions) { o.Limit = 1 })
	var seq []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Versions) != 1 {
			t.Errorf("a page of MaxItems=1 has %d versions", len(page.Versions))
		}
		for _, v := range page.Versions {
			seq = append(seq, deref(v.Version))
		}
		if len(seq) > 100 {
			t.Fatal("the paginator does not end")
		}
	}
	if got := strings.Join(seq, ","); got != "$LATEST,1,2,3" {
		t.Errorf("ListVersionsByFunction pages = %s, want $LATEST,1,2,3", got)
	}
	_, err = c.ListVersionsByFunction(ctxT(t), &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(name), MaxItems: aws.Int32(0)})
	wantAPIError(t, err, "ValidationException", 400)

	// Deleting one version deletes only that version.
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("2")})
	_, err = c.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("2")})
	wantAPIError(t, err, "ResourceNotFoundException", 404, arn+":2")
	if got := versionList(listVersions(t, c, name)); got != "$LATEST,1,3" {
		t.Errorf("versions after deleting 2 = %s, want $LATEST,1,3", got)
	}
	call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	// Deleting a version that is gone succeeds again, as on AWS
	// (test_delete_on_nonexisting_version); only an unknown function is a 404.
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("2")})
	_, err = c.DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("$LATEST")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "$LATEST")
	_, err = c.DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(name + ":$LATEST")})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "$LATEST")

	// A version an alias routes to cannot be deleted.
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("canary"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"3": 0.1}}})
	_, err = c.DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
	wantAPIError(t, err, "ResourceConflictException", 409, "live")
	_, err = c.DeleteFunction(ctxT(t), &lambda.DeleteFunctionInput{FunctionName: aws.String(arn + ":3")})
	wantAPIError(t, err, "ResourceConflictException", 409, "canary")
	if got := versionList(listVersions(t, c, name)); got != "$LATEST,1,3" {
		t.Errorf("versions after refused deletes = %s, want $LATEST,1,3", got)
	}

	// Version numbers are never reused, even after the newest version is deleted.
	call(t, c.DeleteAlias, &lambda.DeleteAliasInput{FunctionName: aws.String(name), Name: aws.String("canary")})
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("3")})
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Timeout: aws.Int32(9)})
	v4 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if deref(v4.Version) != "4" {
		t.Errorf("PublishVersion after deleting version 3 answered %q, want 4 (numbers are never reused)", deref(v4.Version))
	}

	missing := uniqueName("missing")
	_, err = c.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String(missing)})
	wantAPIError(t, err, "ResourceNotFoundException", 404, missing)
	_, err = c.ListVersionsByFunction(ctxT(t), &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(missing)})
	wantAPIError(t, err, "ResourceNotFoundException", 404, missing)
	_, err = c.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String(name + ":1")})
	wantAPIError(t, err, "InvalidParameterValueException", 400)
}

// TestPublishVersionAfterDescriptionChange: on AWS, a function whose description
// changed publishes a new version (recorded from AWS in LocalStack's
// TestLambdaVersions::test_version_lifecycle: UpdateFunctionConfiguration with only
// Description, then PublishVersion, answers Version "2").
func TestPublishVersionAfterDescriptionChange(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("descver")
	createFunction(t, c, name, func(in *lambda.CreateFunctionInput) { in.Description = aws.String("No version :(") })
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Description: aws.String("First version :)")})
	v1 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String("First version description :)")})
	if deref(v1.Version) != "1" {
		t.Fatalf("first publish = %q", deref(v1.Version))
	}
	call(t, c.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Description: aws.String("Second version :))")})
	v2 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if deref(v2.Version) != "2" || deref(v2.Description) != "Second version :))" {
		t.Errorf("PublishVersion after UpdateFunctionConfiguration(Description) answered Version %q Description %q, want a new version 2 with Description %q",
			deref(v2.Version), deref(v2.Description), "Second version :))")
	}
	v3 := call(t, c.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name), Description: aws.String("Third version description :)))")})
	if deref(v3.Version) != deref(v2.Version) {
		t.Errorf("publishing again without a change answered %q, want %q again", deref(v3.Version), deref(v2.Version))
	}
}
