package agent

import (
	"github.com/hearthfn/hearth/internal/agentproto"
)

// invocationError serves POST /runtime/invocation/{id}/error: the function (or the
// runtime on its behalf) failed this invocation. The body is Lambda's error document
// {"errorMessage","errorType","stackTrace"}; it becomes the Result body as posted,
// or wrapped into one when it is not JSON.
//
// Result.ErrorType is the Lambda-Runtime-Function-Error-Type header; runtimes that do
// not send it (aws-lambda-go) get the document's errorType, else "Unhandled".
func (a *Agent) invocationError(c *conn, id []byte) {
	inv, body, ok := a.claimBody(c, id, "InvocationErrorResponse")
	if !ok {
		return
	}
	headerType := string(c.errorType)
	doc, docType, _ := normalizeErrorDoc(body, headerType)
	errorType := headerType
	if errorType == "" {
		errorType = docType
	}
	if errorType == "" {
		errorType = errorTypeUnhandled
	}
	a.complete(inv, &agentproto.Result{RequestID: inv.id, Error: true, ErrorType: errorType}, doc, body)
	c.renderAccepted()
}
