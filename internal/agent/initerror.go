package agent

import (
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
)

// initError serves POST /runtime/init/error: the runtime could not initialise (a
// missing handler, an exception in the function's global scope). It ends the init
// phase with InitError — errorType from the Lambda-Runtime-Function-Error-Type header
// (else the document's, else Runtime.Unknown), message from the document's
// errorMessage, body the document — and then gives the runtime StopGrace to exit on
// its own, as the API asks it to, before killing it.
func (a *Agent) initError(c *conn) {
	// Check first, so a call out of turn is refused without reading its body...
	a.mu.Lock()
	from := a.state
	a.mu.Unlock()
	if !from.CanTransition(StateInitError) {
		c.renderStateError(from, "InitError")
		return
	}
	body, err := readBody(c, nil)
	if err != nil && err != errTooLarge {
		c.closeAfter = true
		return
	}
	headerType := string(c.errorType)
	doc, docType, docMessage := normalizeErrorDoc(body, headerType)
	errorType := headerType
	if errorType == "" {
		errorType = docType
	}
	if errorType == "" {
		errorType = ErrorTypeUnknown
	}

	// ...and again, since the runtime may have exited or timed out meanwhile.
	a.mu.Lock()
	from = a.state
	if !a.transition(StateInitError) {
		a.mu.Unlock()
		c.renderStateError(from, "InitError")
		return
	}
	a.stopInitTimer()
	a.logs.boundary("", func() {
		a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: errorType, Message: docMessage}, doc)
	})
	a.mu.Unlock()

	c.renderAccepted()
	go a.rt.stop(false, StopGrace)
	a.finishAfter(StopGrace + 2*time.Second)
}
