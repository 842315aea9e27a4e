package control

import (
	"context"
	"fmt"
	"testing"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Messages and order as AWS answered them (LocalStack's validated snapshots of
// test_tag_exceptions, test_tag_limits and test_tag_versions).
func TestTagErrors(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	const (
		qualified = "Tags on function aliases and versions are not supported. Please specify a function ARN."
		limit     = "Number of tags exceeds resource tag limit."
		esm       = "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:6d3a5f7e-0000-4000-8000-000000000000"
		cp        = "arn:aws:lambda:us-east-1:000000000000:capacity-provider:cp"
	)
	one := map[string]string{"A": "B"}
	pattern := func(v string) string {
		return "1 validation error detected: Value '" + v + "' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: " + taggablePattern
	}
	wantErr(t, "invalid ARN", s.TagResource(ctx, "arn:aws:something", one), errdefs.ErrValidation, pattern("arn:aws:something"))
	wantErr(t, "missing", s.TagResource(ctx, testFnArn+"doesnotexist", one), errdefs.ErrNotFound, "Function not found: "+testFnArn+"doesnotexist")
	wantErr(t, "alias", s.TagResource(ctx, testFnArn+"f:v1", one), errdefs.ErrInvalidParameter, qualified)
	wantErr(t, "version", s.TagResource(ctx, testFnArn+"f:1", one), errdefs.ErrInvalidParameter, qualified)
	wantErr(t, "$LATEST", s.TagResource(ctx, testFnArn+"f:$LATEST", one), errdefs.ErrInvalidParameter, qualified)
	wantErr(t, "empty", s.TagResource(ctx, testFnArn+"f", map[string]string{}), errdefs.ErrInvalidParameter, "An error occurred and the request cannot be processed.")
	wantErr(t, "null", s.TagResource(ctx, testFnArn+"f", nil), errdefs.ErrValidation, "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	wantErr(t, "untag no keys", s.UntagResource(ctx, testFnArn+"f", nil), errdefs.ErrValidation, "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	_, err := s.ListTags(ctx, testFnArn+"doesnotexist:alias")
	wantErr(t, "alias of no function", err, errdefs.ErrInvalidParameter, qualified)
	_, err = s.ListTags(ctx, "arn:aws:lambda:us-east-1:000000000000:foobar:x")
	wantErr(t, "foobar", err, errdefs.ErrValidation, pattern("arn:aws:lambda:us-east-1:000000000000:foobar:x"))
	_, err = s.ListTags(ctx, esm)
	wantErr(t, "mapping", err, errdefs.ErrNotFound, "Event source mapping not found: "+esm)
	_, err = s.ListTags(ctx, esm+":alias")
	wantErr(t, "mapping alias", err, errdefs.ErrValidation, pattern(esm+":alias"))
	wantErr(t, "capacity provider", s.UntagResource(ctx, cp, []string{"A"}), errdefs.ErrNotFound, "Capacity provider not found: "+cp)

	many := map[string]string{}
	for i := range 51 {
		many[fmt.Sprintf("%d_key", i)] = "v"
	}
	wantErr(t, "51 tags", s.TagResource(ctx, testFnArn+"f", many), errdefs.ErrInvalidParameter, limit)
	delete(many, "50_key")
	if err := s.TagResource(ctx, testFnArn+"f", many); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "51st tag", s.TagResource(ctx, testFnArn+"f", map[string]string{"a_key": "a"}), errdefs.ErrInvalidParameter, limit)
	if err := s.TagResource(ctx, testFnArn+"f", map[string]string{"0_key": "replaced"}); err != nil {
		t.Errorf("replacing a tag at the limit: %v", err)
	}
	if err := s.UntagResource(ctx, testFnArn+"f", []string{"0_key", "nokey"}); err != nil {
		t.Fatal(err)
	}
	tags, err := s.ListTags(ctx, testFnArn+"f")
	if err != nil || len(tags) != 49 {
		t.Errorf("ListTags: %d tags, %v", len(tags), err)
	}
}
