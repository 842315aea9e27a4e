package e2e

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// accountSettings reads GetAccountSettings and checks the fixed limits.
func accountSettings(t testing.TB, c *lambda.Client) *lambda.GetAccountSettingsOutput {
	t.Helper()
	out := call(t, c.GetAccountSettings, &lambda.GetAccountSettingsInput{})
	l := out.AccountLimit
	if l == nil || out.AccountUsage == nil {
		t.Fatalf("GetAccountSettings = %s, want AccountLimit and AccountUsage", jsonOf(t, out))
	}
	if l.ConcurrentExecutions != 1000 || l.CodeSizeZipped != 52428800 || l.CodeSizeUnzipped != 262144000 || l.TotalCodeSize != 80530636800 {
		t.Errorf("AccountLimit = %s, want ConcurrentExecutions 1000, CodeSizeZipped 52428800, CodeSizeUnzipped 262144000, TotalCodeSize 80530636800", jsonOf(t, l))
	}
	return out
}

func wantUnreserved(t testing.TB, c *lambda.Client, n int32) {
	t.Helper()
	if got := deref(accountSettings(t, c).AccountLimit.UnreservedConcurrentExecutions); got != n {
		t.Errorf("UnreservedConcurrentExecutions = %d, want %d", got, n)
	}
}

func wantReserved(t testing.TB, c *lambda.Client, name string, n *int32) {
	t.Helper()
	got := call(t, c.GetFunctionConcurrency, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)})
	if (got.ReservedConcurrentExecutions == nil) != (n == nil) || (n != nil && *got.ReservedConcurrentExecutions != *n) {
		t.Errorf("GetFunctionConcurrency %s = %s, want %v", name, jsonOf(t, got.ReservedConcurrentExecutions), jsonOf(t, n))
	}
	fn := call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	var shown *int32
	if fn.Concurrency != nil {
		shown = fn.Concurrency.ReservedConcurrentExecutions
	}
	if (shown == nil) != (n == nil) || (n != nil && *shown != *n) {
		t.Errorf("GetFunction %s Concurrency = %s, want %v", name, jsonOf(t, fn.Concurrency), jsonOf(t, n))
	}
}

// TestReservedConcurrency runs on a server of its own: reservations and usage are
// account-wide numbers.
func TestReservedConcurrency(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	c := s.client()

	empty := accountSettings(t, c)
	if deref(empty.AccountLimit.UnreservedConcurrentExecutions) != 1000 || empty.AccountUsage.FunctionCount != 0 || empty.AccountUsage.TotalCodeSize != 0 {
		t.Errorf("a new account: %s, want 1000 unreserved and no usage", jsonOf(t, empty))
	}

	zipA, zipB := pythonZip(t, "reserved-a"), nodeZip(t, "reserved-b")
	a, b := uniqueName("rsv-a"), uniqueName("rsv-b")
	createFunction(t, c, a, func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = zipA })
	createFunction(t, c, b, func(in *lambda.CreateFunctionInput) {
		in.Code.ZipFile = zipB
		in.Runtime = "nodejs20.x"
		in.Handler = aws.String("index.handler")
	})
	usage := accountSettings(t, c).AccountUsage
	if usage.FunctionCount != 2 || usage.TotalCodeSize != int64(len(zipA)+len(zipB)) {
		t.Errorf("AccountUsage = %s, want FunctionCount 2 and TotalCodeSize %d", jsonOf(t, usage), len(zipA)+len(zipB))
	}
	wantReserved(t, c, a, nil)

	// The account keeps at least 100 unreserved.
	_, err := c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(a), ReservedConcurrentExecutions: aws.Int32(901)})
	wantAPIError(t, err, "InvalidParameterValueException", 400, "UnreservedConcurrentExecution", "100")
	wantReserved(t, c, a, nil)
	wantUnreserved(t, c, 1000)

	put := call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(a), ReservedConcurrentExecutions: aws.Int32(900)})
	if deref(put.ReservedConcurrentExecutions) != 900 {
		t.Errorf("PutFunctionConcurrency answered %s", jsonOf(t, put))
	}
	wantReserved(t, c, a, aws.Int32(900))
	wantUnreserved(t, c, 100)
	_, err = c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(b), ReservedConcurrentExecutions: aws.Int32(1)})
	wantAPIError(t, err, "InvalidParameterValueException", 400)

	// Lowering a reservation frees room for another function.
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(arnOrName(a, true)), ReservedConcurrentExecutions: aws.Int32(100)})
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(b), ReservedConcurrentExecutions: aws.Int32(800)})
	wantUnreserved(t, c, 100)
	_, err = c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(b), ReservedConcurrentExecutions: aws.Int32(801)})
	wantAPIError(t, err, "InvalidParameterValueException", 400)
	wantReserved(t, c, b, aws.Int32(800))

	_, err = c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(a), ReservedConcurrentExecutions: aws.Int32(-1)})
	wantAPIError(t, err, "ValidationException", 400)
	_, err = c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(a + ":1"), ReservedConcurrentExecutions: aws.Int32(5)})
	wantAPIError(t, err, "InvalidParameterValueException", 400)
	missing := uniqueName("missing")
	_, err = c.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(missing), ReservedConcurrentExecutions: aws.Int32(5)})
	wantAPIError(t, err, "ResourceNotFoundException", 404, missing)
	_, err = c.GetFunctionConcurrency(ctxT(t), &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(missing)})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c.DeleteFunctionConcurrency(ctxT(t), &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(missing)})
	wantAPIError(t, err, "ResourceNotFoundException", 404)

	// Zero is a valid reservation: the function is throttled.
	call(t, c.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(a), ReservedConcurrentExecutions: aws.Int32(0)})
	wantReserved(t, c, a, aws.Int32(0))
	wantUnreserved(t, c, 200)

	call(t, c.DeleteFunctionConcurrency, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(a)})
	wantReserved(t, c, a, nil)
	wantUnreserved(t, c, 200)

	// Deleting a function releases its reservation and its usage.
	call(t, c.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(b)})
	wantUnreserved(t, c, 1000)
	usage = accountSettings(t, c).AccountUsage
	if usage.FunctionCount != 1 || usage.TotalCodeSize != int64(len(zipA)) {
		t.Errorf("AccountUsage after deleting one function = %s, want FunctionCount 1 and TotalCodeSize %d", jsonOf(t, usage), len(zipA))
	}
	// A function created again under the deleted name does not inherit it.
	createFunction(t, c, b)
	wantReserved(t, c, b, nil)
	wantUnreserved(t, c, 1000)
}

func arnOrName(name string, arn bool) string {
	if arn {
		return functionArn(name)
	}
	return name
}
