package control

import (
	"context"
	"testing"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Messages and order as AWS answered them (LocalStack's validated snapshots of
// test_function_concurrency_exceptions and test_function_concurrency_limits).
func TestPutFunctionConcurrencyErrors(t *testing.T) {
	s := newTestService(t) // the account limit: 1000
	ctx := context.Background()
	put := func(fn string, n *int) error {
		_, err := s.PutFunctionConcurrency(ctx, fn, n)
		return err
	}
	wantErr(t, "missing", put("doesnotexist", ptr(1)), errdefs.ErrNotFound, "Function not found: "+testFnArn+"doesnotexist:$LATEST")
	wantErr(t, "missing 0", put("doesnotexist", ptr(0)), errdefs.ErrNotFound, "Function not found: "+testFnArn+"doesnotexist:$LATEST")
	wantErr(t, "negative", put("doesnotexist", ptr(-1)), errdefs.ErrValidation, "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0")
	wantErr(t, "null", put("f", nil), errdefs.ErrValidation, "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null")
	wantErr(t, "qualified", put(testFnArn+"f:$LATEST", ptr(0)), errdefs.ErrInvalidParameter, "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.")
	const limit = "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."
	wantErr(t, "1001", put("f", ptr(1001)), errdefs.ErrInvalidParameter, limit)
	wantErr(t, "1000", put("f", ptr(1000)), errdefs.ErrInvalidParameter, limit)
	if err := put("f", ptr(900)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "g 1", put("g", ptr(1)), errdefs.ErrInvalidParameter, limit)
	_, err := s.GetFunctionConcurrency(ctx, "doesnotexist")
	wantErr(t, "get missing", err, errdefs.ErrNotFound, "Function not found: "+testFnArn+"doesnotexist")
}
