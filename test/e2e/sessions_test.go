package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// envCredentials are the execution role's credentials an env got.
type envCredentials struct{ id, secret, token string }

func credentialsOf(t *testing.T, s *server, fn string) envCredentials {
	t.Helper()
	var echo struct {
		Env map[string]string `json:"env"`
	}
	s.invokeOK(t, fn, map[string]any{"action": "echo"}, invokeOpts{}).decode(t, &echo)
	c := envCredentials{echo.Env["AWS_ACCESS_KEY_ID"], echo.Env["AWS_SECRET_ACCESS_KEY"], echo.Env["AWS_SESSION_TOKEN"]}
	if !strings.HasPrefix(c.id, "ASIA") || len(c.secret) != 40 || c.token == "" {
		t.Fatalf("the env's credentials do not look like Lambda's temporary ones: %+v", c)
	}
	return c
}

func (c envCredentials) provider() aws.CredentialsProviderFunc {
	return func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: c.id, SecretAccessKey: c.secret, SessionToken: c.token, Source: "env"}, nil
	}
}

func stsClient(s *server, creds aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.url()),
		Credentials:  creds,
		Retryer:      aws.NopRetryer{},
		HTTPClient:   awshttp.NewBuildableClient().WithTimeout(callTimeout),
	})
}

func lambdaClient(s *server, creds aws.CredentialsProvider) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.url()),
		Credentials:  creds,
		Retryer:      aws.NopRetryer{},
		HTTPClient:   awshttp.NewBuildableClient().WithTimeout(2 * callTimeout),
	})
}

// wantSTSError checks an STS answer's code (query protocol: ErrorResponse XML).
func wantSTSError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || httpStatus(err) != status {
		t.Errorf("got %v, want %s (%d)", err, code, status)
	}
}

// TestExecutionRoleCredentials: every env carries temporary credentials for its
// function's role; Hearth's SigV4 accepts them with their session token, STS's
// GetCallerIdentity names the assumed role, the rule (invoke only) holds, a forged
// or swapped token is refused, an env retires before its credentials expire and its
// successor has new ones, and expired credentials are refused with AWS's codes.
func TestExecutionRoleCredentials(t *testing.T) {
	requireSandboxHost(t, "namespace")
	t.Parallel()
	const ttl = 16 * time.Second // an env retires 4 s before expiry, less its 1 s timeout
	s := startSandboxServer(t, "namespace", "--credentials-ttl", ttl.String())
	fn := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(1) })
	minted := time.Now()
	c1 := credentialsOf(t, s, fn)
	ctx := ctxT(t)

	// The root key: the account.
	root, err := stsClient(s, aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret}, nil
	})).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(root.Arn); got != "arn:aws:iam::"+accountID+":root" || aws.ToString(root.Account) != accountID {
		t.Errorf("root's identity: %s in %s", got, aws.ToString(root.Account))
	}
	// The env's credentials: the assumed role, named after the function.
	who, err := stsClient(s, c1.provider()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	roleName := testRole[strings.LastIndexByte(testRole, '/')+1:]
	if got, want := aws.ToString(who.Arn), "arn:aws:sts::"+accountID+":assumed-role/"+roleName+"/"+fn; got != want {
		t.Errorf("Arn %q, want %q", got, want)
	}
	if u := aws.ToString(who.UserId); !strings.HasPrefix(u, "AROA") || !strings.HasSuffix(u, ":"+fn) {
		t.Errorf("UserId %q, want AROA…:%s", u, fn)
	}

	// The rule: invoke functions of its own account, nothing else.
	fc := lambdaClient(s, c1.provider())
	if _, err := fc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"action":"echo"}`)}); err != nil {
		t.Errorf("invoke with the env's credentials: %v", err)
	}
	_, err = fc.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	wantAPIError(t, err, "AccessDeniedException", http.StatusForbidden, "assumed-role/"+roleName+"/"+fn, "lambda:ListFunctions")
	_, err = fc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(fn)})
	wantAPIError(t, err, "AccessDeniedException", http.StatusForbidden, "lambda:DeleteFunction on resource: "+functionArn(fn))
	_, err = fc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:" + region + ":999999999999:function:" + fn)})
	wantAPIError(t, err, "AccessDeniedException", http.StatusForbidden, "lambda:InvokeFunction", "resource-based policy")

	// Forgeries: a token altered, another credential's token, the secret without
	// the token, the root key with a token.
	forged := []envCredentials{
		{c1.id, c1.secret, c1.token[:len(c1.token)-2] + "AA"},
		{c1.id, c1.secret, "not-a-token"},
		{c1.id, c1.secret, ""},
		{s.keyID, s.secret, c1.token},
	}
	for i, f := range forged {
		_, err := lambdaClient(s, f.provider()).ListFunctions(ctx, &lambda.ListFunctionsInput{})
		wantAPIError(t, err, "UnrecognizedClientException", http.StatusForbidden)
		_, err = stsClient(s, f.provider()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if i < 3 { // the root key without its token is the account's key, and works
			wantSTSError(t, err, "InvalidClientTokenId", http.StatusForbidden)
		}
	}
	// Another secret: the signature does not match.
	_, err = stsClient(s, envCredentials{c1.id, s.secret, c1.token}.provider()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantSTSError(t, err, "SignatureDoesNotMatch", http.StatusForbidden)

	// While they are valid, the warm env keeps its credentials.
	if again := credentialsOf(t, s, fn); again.id != c1.id {
		t.Errorf("the warm env's key changed from %s to %s", c1.id, again.id)
	}
	// Past its retirement (expiry − 4 s − the 1 s timeout), the next invocation
	// gets a new env with new credentials.
	// (minted is taken before the first invocation's cold start minted them: 2 s
	// later still leaves a busy host's cold start 3 s of room.)
	time.Sleep(time.Until(minted.Add(ttl - 2*time.Second)))
	c2 := credentialsOf(t, s, fn)
	if c2.id == c1.id {
		t.Fatalf("credentials did not rotate: the env retiring %v before expiry still served", 4*time.Second)
	}
	// Past expiry, the old ones are refused; the new ones still work.
	time.Sleep(time.Until(minted.Add(ttl + 4*time.Second)))
	_, err = stsClient(s, c1.provider()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantSTSError(t, err, "ExpiredToken", http.StatusForbidden)
	_, err = lambdaClient(s, c1.provider()).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn)})
	wantAPIError(t, err, "ExpiredTokenException", http.StatusForbidden, "expired")
	if _, err := stsClient(s, c2.provider()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("the new env's credentials: %v", err)
	}
}
