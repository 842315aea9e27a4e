package lambdaapi

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hearthfn/hearth/internal/lambdaapi/sigv4"
)

// STS, the part of it a function needs: sts:GetCallerIdentity, which SDKs and tools
// call to learn who their credentials are. Envs reach it through
// AWS_ENDPOINT_URL_STS on the function-facing listener; the operator's CLI on the
// main one. STS speaks the query protocol: a form body (or query string) with
// Action and Version, signed for service "sts", answered in XML.

const (
	stsNamespace    = "https://sts.amazonaws.com/doc/2011-06-15/"
	stsVersion      = "2011-06-15"
	maxSTSBodyBytes = 64 << 10
)

// stsActions are STS's other operations: answered "not implemented", not
// "unknown action".
var stsActions = map[string]bool{
	"AssumeRole": true, "AssumeRoleWithSAML": true, "AssumeRoleWithWebIdentity": true, "AssumeRoot": true,
	"DecodeAuthorizationMessage": true, "GetAccessKeyInfo": true, "GetFederationToken": true,
	"GetSessionToken": true, "GetDelegatedAccessToken": true, "GetWebIdentityToken": true,
}

// isSTSRequest tells an STS call from a Lambda one: the Lambda API has no operation
// on "/", STS has nothing else.
func isSTSRequest(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost:
		ct := r.Header.Get("Content-Type")
		return strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded")
	case http.MethodGet:
		return r.URL.Query().Get("Action") != ""
	}
	return false
}

type stsError struct {
	status        int
	code, message string
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, reqID string) {
	sig, err := s.sts.VerifyHeaders(r)
	if err != nil {
		writeSTSError(w, reqID, stsAuthError(err))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSTSBodyBytes+1))
	if err != nil {
		writeSTSError(w, reqID, stsError{http.StatusBadRequest, "InvalidRequest", "The request body could not be read."})
		return
	}
	if len(body) > maxSTSBodyBytes {
		writeSTSError(w, reqID, stsError{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body must be smaller than " + strconv.Itoa(maxSTSBodyBytes) + " bytes."})
		return
	}
	if _, err := sig.VerifyBody(body); err != nil {
		writeSTSError(w, reqID, stsAuthError(err))
		return
	}
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		values, err := url.ParseQuery(string(body))
		if err != nil {
			writeSTSError(w, reqID, stsError{http.StatusBadRequest, "MalformedQueryString", "The request body is not a valid form: " + err.Error()})
			return
		}
		for k, v := range values {
			form[k] = v
		}
	}
	action := form.Get("Action")
	switch {
	case action == "GetCallerIdentity":
	case stsActions[action]:
		writeSTSError(w, reqID, stsError{http.StatusNotImplemented, "NotImplemented", "Hearth does not implement the STS " + action + " operation."})
		return
	default:
		writeSTSError(w, reqID, stsError{http.StatusBadRequest, "InvalidAction", "Could not find operation " + action + " for version " + form.Get("Version")})
		return
	}
	who, err := s.callerOf(sig)
	if err != nil {
		writeSTSError(w, reqID, stsError{http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired"})
		return
	}
	// GetCallerIdentity needs no permission, on AWS too.
	result := getCallerIdentityResult{Account: s.ctl.AccountID()}
	if who != nil {
		result.Arn, result.UserID = who.ARN(), who.UserID()
	} else {
		result.Arn, result.UserID = "arn:aws:iam::"+result.Account+":root", result.Account
	}
	writeSTSXML(w, http.StatusOK, getCallerIdentityResponse{
		Xmlns:    stsNamespace,
		Result:   result,
		Metadata: responseMetadata{RequestID: reqID},
	})
}

type getCallerIdentityResponse struct {
	XMLName  xml.Name                `xml:"GetCallerIdentityResponse"`
	Xmlns    string                  `xml:"xmlns,attr"`
	Result   getCallerIdentityResult `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata        `xml:"ResponseMetadata"`
}

type getCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// stsAuthError is the verifier's refusal in STS's codes, which differ from Lambda's.
func stsAuthError(err error) stsError {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i > 0 && strings.HasSuffix(msg[:i], "Exception") {
		msg = msg[i+2:]
	}
	switch {
	case errors.Is(err, sigv4.ErrMissingAuthenticationToken):
		return stsError{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"}
	case errors.Is(err, sigv4.ErrIncompleteSignature):
		return stsError{http.StatusBadRequest, "IncompleteSignature", msg}
	case errors.Is(err, sigv4.ErrUnrecognizedClient):
		return stsError{http.StatusForbidden, "InvalidClientTokenId", msg}
	case errors.Is(err, sigv4.ErrExpiredToken):
		return stsError{http.StatusForbidden, "ExpiredToken", msg}
	}
	return stsError{http.StatusForbidden, "SignatureDoesNotMatch", msg}
}

func writeSTSError(w http.ResponseWriter, reqID string, e stsError) {
	var doc stsErrorResponse
	doc.Xmlns = stsNamespace
	doc.Error.Type = "Sender"
	if e.status >= 500 {
		doc.Error.Type = "Receiver"
	}
	doc.Error.Code, doc.Error.Message, doc.RequestID = e.code, e.message, reqID
	writeSTSXML(w, e.status, doc)
}

func writeSTSXML(w http.ResponseWriter, status int, doc any) {
	b, err := xml.Marshal(doc)
	if err != nil {
		http.Error(w, "rendering the response failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
