package lambdaapi

import (
	"fmt"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/lambdaapi/sigv4"
	"github.com/hearthfn/hearth/internal/session"
)

// Who may do what. There is no IAM policy engine yet; the rule is fixed:
//
//   - the account's long-term keys (serve's credentials) may call every operation;
//   - an execution role's temporary credentials (what an env carries) may invoke the
//     functions of their own account (Invoke, InvokeAsync, InvokeWithResponseStream),
//     use its queues once Hearth serves them, and call sts:GetCallerIdentity; every
//     other call is refused with AWS's AccessDeniedException.
//
// Credentials are never usable past their expiry (ExpiredTokenException) or for
// another account (their token names the account; Check refuses any other).

// caller is who signed a request: nil for the account's long-term key.
type caller = *session.Identity

// callerOf returns the identity of a verified signature.
func (s *Server) callerOf(sig *sigv4.Signature) (caller, error) {
	tok := sig.SessionToken()
	if tok == "" {
		return nil, nil
	}
	id, _, err := s.sessions.Check(sig.AccessKeyID(), tok)
	if err != nil {
		// Checked by the verifier a moment ago; only expiry can change in between.
		return nil, authError(fmt.Errorf("%w: %v", sigv4.ErrExpiredToken, err))
	}
	return &id, nil
}

// invokeActions are the Lambda operations temporary credentials may call, with
// their IAM action names.
var invokeActions = map[string]string{
	"Invoke":                   "InvokeFunction",
	"InvokeAsync":              "InvokeAsync",
	"InvokeWithResponseStream": "InvokeFunction",
}

// authorize applies the rule above to a Lambda API call.
func (s *Server) authorize(who caller, rq *request) error {
	if who == nil {
		return nil
	}
	action, ok := invokeActions[rq.op.Name]
	if !ok {
		action = rq.op.Name
		return accessDenied(who, action, s.resourceOf(rq), "identity")
	}
	if acct := refAccount(rq.param("FunctionName")); acct != "" && acct != who.Account {
		return accessDenied(who, action, rq.param("FunctionName"), "resource")
	}
	return nil
}

// resourceOf names what rq acts on, for AccessDenied's message: the function's
// ARN when the call names one, else "*".
func (s *Server) resourceOf(rq *request) string {
	name := rq.param("FunctionName")
	switch {
	case name == "":
		return "*"
	case strings.HasPrefix(name, "arn:"):
		return name
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return s.ctl.FunctionArn(name)
}

// accessDenied is AWS's refusal of a call no policy allows.
func accessDenied(who caller, action, resource, policy string) error {
	return errdefs.New(errdefs.ErrAccessDenied, "User: %s is not authorized to perform: lambda:%s on resource: %s because no %s-based policy allows the lambda:%s action",
		who.ARN(), action, resource, policy, action)
}

// refAccount is the account a function reference names: an ARN's or a partial
// ARN's ("123456789012:function:name"); "" for a bare name.
func refAccount(ref string) string {
	parts := strings.Split(ref, ":")
	switch {
	case len(parts) >= 5 && parts[0] == "arn":
		return parts[4]
	case len(parts) >= 3 && parts[1] == "function":
		return parts[0]
	}
	return ""
}
