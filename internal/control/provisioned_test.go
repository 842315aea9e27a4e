package control

import (
	"context"
	"testing"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Messages and order as AWS answered them (LocalStack's validated snapshots of
// test_provisioned_concurrency_exceptions, test_provisioned_concurrency_limits,
// test_lambda_provisioned_lifecycle and test_reserved_provisioned_overlap).
func TestProvisionedErrors(t *testing.T) {
	s := newTestService(t) // f: version 1, alias live → 1
	ctx := context.Background()
	put := func(fn, q string, n *int) error {
		_, err := s.PutProvisionedConcurrencyConfig(ctx, fn, q, n, nil)
		return err
	}
	get := func(fn, q string) error {
		_, err := s.GetProvisionedConcurrencyConfig(ctx, fn, q)
		return err
	}
	const (
		notPublished = "The function resource provided must be an alias or a published version."
		noConfig     = "No Provisioned Concurrency Config found for this function"
	)
	wantErr(t, "get none", get("f", "1"), errdefs.ErrProvisionedConfigNotFound, noConfig)
	wantErr(t, "get no function alias", get("doesnotexist", "noalias"), errdefs.ErrNotFound, "Cannot find alias arn: "+testFnArn+"doesnotexist:noalias")
	wantErr(t, "get no alias", get("f", "noalias"), errdefs.ErrNotFound, "Cannot find alias arn: "+testFnArn+"f:noalias")
	wantErr(t, "get no version", get("f", "10"), errdefs.ErrNotFound, "Function not found: "+testFnArn+"f:10")
	wantErr(t, "get $LATEST", get("f", "$LATEST"), errdefs.ErrInvalidParameter, notPublished)
	_, err := s.ListProvisionedConcurrencyConfigs(ctx, "doesnotexist", "", 0)
	wantErr(t, "list no function", err, errdefs.ErrNotFound, "Function not found: "+testFnArn+"doesnotexist")
	wantErr(t, "delete no function", s.DeleteProvisionedConcurrencyConfig(ctx, "doesnotexist", "1"), errdefs.ErrNotFound, "Function not found: "+testFnArn+"doesnotexist:1")
	wantErr(t, "delete $LATEST", s.DeleteProvisionedConcurrencyConfig(ctx, "f", "$LATEST"), errdefs.ErrInvalidParameter, notPublished)
	wantErr(t, "put 0", put("f", "1", ptr(0)), errdefs.ErrValidation, "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1")
	wantErr(t, "put null, no qualifier", put("f", "", nil), errdefs.ErrValidation, "2 validation errors detected: Value null at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must not be null; Value null at 'qualifier' failed to satisfy constraint: Member must not be null")
	wantErr(t, "put no function alias", put("doesnotexist", "noalias", ptr(1)), errdefs.ErrNotFound, "Cannot find alias arn: "+testFnArn+"doesnotexist:noalias")
	wantErr(t, "put no function version", put("doesnotexist", "1", ptr(1)), errdefs.ErrNotFound, "Function not found: "+testFnArn+"doesnotexist:1")
	wantErr(t, "put $LATEST", put("f", "$LATEST", ptr(1)), errdefs.ErrInvalidParameter, "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	wantErr(t, "put 1001", put("f", "1", ptr(1001)), errdefs.ErrInvalidParameter, "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [1000].")
	wantErr(t, "put 1000", put("f", "1", ptr(1000)), errdefs.ErrInvalidParameter, "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].")

	// One version, one config.
	if err := put("f", "1", ptr(2)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "alias of a provisioned version", put("f", "live", ptr(1)), errdefs.ErrConflict, "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
	// The reservation holds the provisioned concurrency.
	_, err = s.PutFunctionConcurrency(ctx, "f", ptr(1))
	wantErr(t, "reserved below provisioned", err, errdefs.ErrInvalidParameter, " ReservedConcurrentExecutions  1 should not be lower than function's total provisioned concurrency [2].")
	if _, err := s.PutFunctionConcurrency(ctx, "f", ptr(2)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "provisioned above reserved", put("f", "1", ptr(3)), errdefs.ErrInvalidParameter, "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function")
	if err := s.DeleteProvisionedConcurrencyConfig(ctx, "f", "1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "get deleted", get("f", "1"), errdefs.ErrProvisionedConfigNotFound, noConfig)
	if err := put("f", "live", ptr(1)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "version of a provisioned alias", put("f", "1", ptr(1)), errdefs.ErrConflict, "Version is pointed by a Provisioned Concurrency alias")
	if err := s.DeleteAlias(ctx, "f", "live"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "get deleted alias", get("f", "live"), errdefs.ErrNotFound, "Cannot find alias arn: "+testFnArn+"f:live")

	for n, msg := range map[int]string{
		51: "1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50",
		0:  "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1",
	} {
		wantErr(t, "MaxItems", CheckProvisionedMaxItems(n, true), errdefs.ErrValidation, msg)
	}
}
