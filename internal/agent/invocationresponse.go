package agent

import (
	"encoding/base64"
	"errors"
	"io"
	"strconv"

	"github.com/hearthfn/hearth/internal/agentproto"
)

var (
	// The 413 the runtime gets, as RAPID renders it.
	msgRequestEntityTooLarge = "Exceeded maximum allowed payload size (" + strconv.Itoa(MaxResponseSize) + " bytes)."
	// The error the invocation fails with, as Lambda reports it to the caller.
	msgResponseTooLarge = "Response payload size exceeded maximum allowed payload size (" + strconv.Itoa(MaxResponseSize) + " bytes)."
	docResponseTooLarge = errorDoc(msgResponseTooLarge, ErrorTypeResponseTooLarge)
)

// claimBody claims the invocation a POST names and reads the body the runtime sends
// for it. An oversized body fails the invocation with Lambda's response-size error;
// a broken one gives the invocation back. ok is false when the caller has nothing
// left to do.
func (a *Agent) claimBody(c *conn, id []byte, transition string) (inv *invocation, body []byte, ok bool) {
	inv, buf, ok := a.claim(c, id, transition)
	if !ok {
		return nil, nil, false
	}
	body, err := readBody(c, buf)
	switch {
	case errors.Is(err, errTooLarge):
		a.complete(inv, &agentproto.Result{RequestID: inv.id, Error: true, ErrorType: ErrorTypeResponseTooLarge}, docResponseTooLarge, body)
		c.renderError(413, "RequestEntityTooLarge", msgRequestEntityTooLarge)
		return nil, nil, false
	case err != nil:
		a.unclaim(inv, body)
		c.closeAfter = true // the connection broke mid-body; it cannot carry another request
		return nil, nil, false
	}
	return inv, body, true
}

// invocationResponse serves POST /runtime/invocation/{id}/response.
func (a *Agent) invocationResponse(c *conn, id []byte) {
	inv, body, ok := a.claimBody(c, id, "InvocationResponse")
	if !ok {
		return
	}
	res := agentproto.Result{RequestID: inv.id}
	payload := body
	// aws-lambda-go announces these trailers on every response and fills them in when
	// the handler's reader fails part way: the invocation failed after all.
	if len(c.trailerErrorType) > 0 {
		res.Error, res.ErrorType = true, string(c.trailerErrorType)
		payload = trailerErrorDoc(c.trailerErrorBody, res.ErrorType)
	}
	a.complete(inv, &res, payload, body)
	c.renderAccepted()
}

func trailerErrorDoc(b64 []byte, errorType string) []byte {
	if b, err := base64.StdEncoding.AppendDecode(nil, b64); err == nil && len(b) > 0 {
		doc, _, _ := normalizeErrorDoc(b, errorType)
		return doc
	}
	return errorDoc("", errorType)
}

// claim moves Running → ResponseSent for the invocation id before the body is read,
// so a second answer for it is refused (RAPID: InvalidStateTransition) while the
// first is still arriving. It lends the caller the body buffer.
func (a *Agent) claim(c *conn, id []byte, to string) (*invocation, []byte, bool) {
	a.mu.Lock()
	from := a.state
	if !from.CanTransition(StateResponseSent) {
		a.mu.Unlock()
		c.renderStateError(from, to)
		return nil, nil, false
	}
	// Validate before the transition: a wrong id leaves the invocation Running.
	inv := a.inv
	if inv.id != string(id) {
		a.mu.Unlock()
		c.renderInvalidRequestID()
		return nil, nil, false
	}
	a.transition(StateResponseSent)
	buf := a.respBuf
	a.respBuf = nil
	a.mu.Unlock()
	return inv, buf, true
}

// unclaim undoes claim after the body could not be read: the runtime may try again.
func (a *Agent) unclaim(inv *invocation, buf []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keepBuf(buf)
	if a.inv == inv && a.state == StateResponseSent {
		a.transition(StateRunning)
	}
}

// complete sends the invocation's Result, after the Log frames of everything the
// runtime wrote while it ran. It does nothing if the invocation was already failed
// because the runtime exited meanwhile.
func (a *Agent) complete(inv *invocation, res *agentproto.Result, payload, buf []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inv == inv {
		a.inv = nil
		a.logs.boundary("", func() { a.out.frame(agentproto.KindResult, res, payload) })
	}
	a.keepBuf(buf) // the frame is written: nothing refers to buf any more
}

// keepBuf keeps a body buffer for the next response unless it is large: the
// sandbox's memory limit covers hearth-init too. Called with a.mu held.
func (a *Agent) keepBuf(buf []byte) {
	if cap(buf) <= 1<<20 {
		a.respBuf = buf[:0]
	}
}

var errTooLarge = errors.New("body exceeds MaxResponseSize")

// readBody reads a response or error body into buf (grown as needed), up to
// MaxResponseSize. It returns the buffer even on errors so it can be reused.
func readBody(c *conn, buf []byte) ([]byte, error) {
	buf = buf[:0]
	if c.contentLength > MaxResponseSize {
		return buf, errTooLarge
	}
	if c.contentLength > int64(cap(buf)) {
		buf = make([]byte, 0, c.contentLength)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > MaxResponseSize {
				return buf, errTooLarge
			}
			nb := make([]byte, len(buf), min(max(2*cap(buf), 4<<10), MaxResponseSize+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxResponseSize {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
