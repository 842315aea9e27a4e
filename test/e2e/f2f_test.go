package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var (
	kindF2FPython = fnKind{short: "f2fpy", runtime: types.RuntimePython312, handler: "lambda_function.lambda_handler",
		zip: func(t testing.TB) []byte { return testdataZip(t, "f2f/python", nil) }}
	kindF2FNode = fnKind{short: "f2fjs", runtime: types.RuntimeNodejs20x, handler: "index.handler",
		zip: func(t testing.TB) []byte { return testdataZip(t, "f2f/node", nil) }}
)

// TestFunctionToFunction: unmodified functions using the runtime's bundled AWS SDK
// (boto3; the SDK for JavaScript v3) call STS and invoke another function, with no
// endpoint or credentials in their code: the env's AWS_ENDPOINT_URL_* variables
// send the calls to Hearth's function-facing listener and the role's credentials
// sign them. The rule holds from inside too: listing functions is denied. Both
// drivers, --egress hearth-only (the gateway's listener is all an env reaches).
func TestFunctionToFunction(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		subnet := fmt.Sprintf("10.213.%d.0/24", 100+rand.IntN(150))
		s := startSandboxServer(t, driver, "--egress", "hearth-only", "--env-subnet", subnet)
		target := deploy(t, s, kindPython)
		for _, k := range []fnKind{kindF2FPython, kindF2FNode} {
			t.Run(k.short, func(t *testing.T) {
				caller := deploy(t, s, k, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(30) })
				var out struct {
					Identity string `json:"identity"`
					Status   int    `json:"status"`
					Executed string `json:"executed"`
					List     string `json:"list"`
					Payload  struct {
						Event map[string]any `json:"event"`
						Ctx   struct {
							FunctionName string `json:"function_name"`
						} `json:"ctx"`
					} `json:"payload"`
				}
				s.invokeOK(t, caller, map[string]any{
					"target":  target,
					"payload": map[string]any{"action": "echo", "from": caller},
					"list":    true,
				}, invokeOpts{}).decode(t, &out)
				roleName := testRole[strings.LastIndexByte(testRole, '/')+1:]
				if want := "arn:aws:sts::" + accountID + ":assumed-role/" + roleName + "/" + caller; out.Identity != want {
					t.Errorf("GetCallerIdentity from inside: %q, want %q", out.Identity, want)
				}
				if out.Status != 200 || out.Executed != "$LATEST" || out.Payload.Ctx.FunctionName != target || out.Payload.Event["from"] != caller {
					t.Errorf("the invoke from inside: %+v", out)
				}
				if out.List != "AccessDeniedException" {
					t.Errorf("ListFunctions from inside: %q, want AccessDeniedException", out.List)
				}
			})
		}
	})
}
