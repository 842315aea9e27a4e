package e2e

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

func wantTags(t testing.TB, c *lambda.Client, name string, want map[string]string) {
	t.Helper()
	got := call(t, c.ListTags, &lambda.ListTagsInput{Resource: aws.String(functionArn(name))})
	if len(got.Tags) != 0 || len(want) != 0 {
		if !reflect.DeepEqual(got.Tags, want) {
			t.Errorf("ListTags = %v, want %v", got.Tags, want)
		}
	}
	fn := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if len(fn.Tags) != 0 || len(want) != 0 {
		if !reflect.DeepEqual(fn.Tags, want) {
			t.Errorf("GetFunction Tags = %v, want %v", fn.Tags, want)
		}
	}
}

// TestTags tags and untags by function ARN. Error types follow what AWS answers
// (LocalStack's AWS-recorded TestLambdaTag / TestLambdaTags snapshots).
func TestTags(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := s.client()
	name := uniqueName("tags")
	arn := functionArn(name)
	createFunction(t, c, name, func(in *lambda.CreateFunctionInput) {
		in.Tags = map[string]string{"team": "a"}
		in.Publish = true
	})
	call(t, c.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	wantTags(t, c, name, map[string]string{"team": "a"})

	call(t, c.TagResource, &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"team": "b", "env": "prod", "empty": ""}})
	wantTags(t, c, name, map[string]string{"team": "b", "env": "prod", "empty": ""})
	call(t, c.UntagResource, &lambda.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{"team", "not-there"}})
	wantTags(t, c, name, map[string]string{"env": "prod", "empty": ""})
	call(t, c.UntagResource, &lambda.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{"env", "empty"}})
	wantTags(t, c, name, nil)
	if got := call(t, c.ListTags, &lambda.ListTagsInput{Resource: aws.String(arn)}); got.Tags == nil {
		t.Errorf("ListTags of an untagged function has no Tags member; AWS answers {\"Tags\": {}}")
	}

	t.Run("qualified ARNs", func(t *testing.T) {
		for _, q := range []string{arn + ":1", arn + ":live", arn + ":$LATEST"} {
			_, err := c.TagResource(ctxT(t), &lambda.TagResourceInput{Resource: aws.String(q), Tags: map[string]string{"k": "v"}})
			wantAPIError(t, err, "InvalidParameterValueException", 400)
			_, err = c.UntagResource(ctxT(t), &lambda.UntagResourceInput{Resource: aws.String(q), TagKeys: []string{"k"}})
			wantAPIError(t, err, "InvalidParameterValueException", 400)
			_, err = c.ListTags(ctxT(t), &lambda.ListTagsInput{Resource: aws.String(q)})
			wantAPIError(t, err, "InvalidParameterValueException", 400)
		}
		wantTags(t, c, name, nil)
	})

	t.Run("unknown function", func(t *testing.T) {
		missing := functionArn(uniqueName("missing"))
		_, err := c.TagResource(ctxT(t), &lambda.TagResourceInput{Resource: aws.String(missing), Tags: map[string]string{"k": "v"}})
		wantAPIError(t, err, "ResourceNotFoundException", 404, "Function not found: "+missing)
		_, err = c.UntagResource(ctxT(t), &lambda.UntagResourceInput{Resource: aws.String(missing), TagKeys: []string{"k"}})
		wantAPIError(t, err, "ResourceNotFoundException", 404, missing)
		_, err = c.ListTags(ctxT(t), &lambda.ListTagsInput{Resource: aws.String(missing)})
		wantAPIError(t, err, "ResourceNotFoundException", 404, missing)
	})

	t.Run("invalid", func(t *testing.T) {
		// A bare name is not an ARN.
		_, err := c.ListTags(ctxT(t), &lambda.ListTagsInput{Resource: aws.String(name)})
		wantAPIError(t, err, "ValidationException", 400, "resource")
		_, err = c.UntagResource(ctxT(t), &lambda.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{}})
		wantAPIError(t, err, "ValidationException", 400, "tagKeys")
		many := map[string]string{}
		for i := 0; i < 51; i++ {
			many[fmt.Sprintf("k%02d", i)] = "v"
		}
		_, err = c.TagResource(ctxT(t), &lambda.TagResourceInput{Resource: aws.String(arn), Tags: many})
		wantAPIError(t, err, "InvalidParameterValueException", 400)
		// 50 tags are fine, and one more on top is not.
		delete(many, "k50")
		call(t, c.TagResource, &lambda.TagResourceInput{Resource: aws.String(arn), Tags: many})
		_, err = c.TagResource(ctxT(t), &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"one-more": "v"}})
		wantAPIError(t, err, "InvalidParameterValueException", 400)
		wantTags(t, c, name, many)
	})

	t.Run("malformed ARN", func(t *testing.T) {
		// AWS: ValidationException "Value 'arn:aws:something' at 'resource' failed to
		// satisfy constraint: Member must satisfy regular expression pattern: ...".
		_, err := c.ListTags(ctxT(t), &lambda.ListTagsInput{Resource: aws.String("arn:aws:something")})
		wantAPIError(t, err, "ValidationException", 400, "resource")
		_, err = c.TagResource(ctxT(t), &lambda.TagResourceInput{Resource: aws.String("arn:aws:something"), Tags: map[string]string{"k": "v"}})
		wantAPIError(t, err, "ValidationException", 400, "resource")
	})
}
