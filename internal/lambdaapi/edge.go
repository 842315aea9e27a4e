package lambdaapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/invoke"
)

// DefaultMaxInflightBodyBytes bounds the request bodies the edge holds at once when
// Config says nothing: three code uploads at AWS's limit, and room for invocations.
const DefaultMaxInflightBodyBytes = 256 << 20

// Reading a body gets bodyReadBase plus the time it takes at bodyReadRate: a 70 MB
// upload on a 2 Mbit/s link still makes it, a client that stops sending does not
// hold its connection and its reservation for long.
const (
	bodyReadBase = 30 * time.Second
	bodyReadRate = 256 << 10 // bytes per second
)

func bodyReadTimeout(n int64) time.Duration {
	return bodyReadBase + time.Duration(n/bodyReadRate)*time.Second
}

// tooLarge is AWS's answer to a body over the operation's limit. AWS names Invoke
// by its internal name there ("for the InvokeFunction operation").
func tooLarge(op string, limit int64) error {
	if op == "Invoke" {
		op = "InvokeFunction"
	}
	return errdefs.New(errdefs.ErrRequestEntityTooLarge, "Request must be smaller than %d bytes for the %s operation", limit, op)
}

// bodyLimit is the largest request body the operation takes.
func bodyLimit(op string) int64 {
	switch op {
	case "CreateFunction", "UpdateFunctionCode":
		return maxCodeRequestBytes
	case "Invoke":
		return invoke.MaxSyncPayload
	}
	return maxOtherRequestBytes
}

// bodyBudget bounds the request-body bytes the edge holds at once, whatever the
// number of connections: each request reserves its body's size before reading it
// and gives it back when its handler is done with the body.
type bodyBudget struct {
	mu    sync.Mutex
	used  int64
	limit int64
}

// reserve takes n bytes, or reports that they would exceed the limit. It never
// waits: a client that is told at once can retry, one that waits holds a connection.
func (b *bodyBudget) reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

func (b *bodyBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		panic("lambdaapi: request-body budget released more than it reserved")
	}
	b.mu.Unlock()
}

// inUse is the bytes reserved now (tests).
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// errBodyBudget is what a request past the budget gets. A 429
// TooManyRequestsException rather than a 503 ServiceException: it is load shedding
// the caller can simply retry (the SDKs back off on it as a throttle), and a 5xx
// would log an error for every shed request — during a flood, a flood of logs.
// Lambda's Reason values all name function or account concurrency, which this is
// not, so the message names what is full and the flag that sizes it.
func errBodyBudget(limit int64) error {
	return errdefs.New(errdefs.ErrTooManyRequests,
		"Hearth is receiving as many request bodies as it holds at once (%d MB; hearth serve --max-inflight-body-mb). Retry the request.",
		limit>>20)
}

// readBody reads the body of a request whose signature passed VerifyHeaders, within
// the budget, the operation's limit and a read deadline. done gives the reservation
// back; call it once the handler no longer holds the body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, op string, limit int64) (body []byte, done func(), err error) {
	if r.ContentLength == 0 {
		return nil, func() {}, nil
	}
	reserved := r.ContentLength
	if reserved < 0 { // chunked: the most it may be
		reserved = limit + 1
	}
	if !s.bodies.reserve(reserved) {
		w.Header().Set("Retry-After", "1")
		return nil, nil, errBodyBudget(s.bodies.limit)
	}
	if r.ContentLength > 0 {
		// The size is known: one buffer, no doubling as io.ReadAll grows.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	// The body is in: no read deadline while the handler runs (an invocation may take
	// 15 minutes; a deadline would cancel its context through the server's
	// background read).
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	used := int64(len(body))
	s.bodies.release(reserved - used)
	done = func() { s.bodies.release(used) }
	if err != nil {
		done()
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("the body ended after %d of its %d bytes", len(body), r.ContentLength)
		}
		return nil, nil, errdefs.New(errdefs.ErrInvalidRequest, "could not read the request body: %v", err)
	}
	if used > limit {
		done()
		return nil, nil, tooLarge(op, limit)
	}
	return body, done, nil
}

// refuse answers a request without reading its body. The connection is closed after
// the answer: otherwise Go's server reads up to 256 KB of the unread body to keep
// the connection, and a client still sending megabytes would be read in vain.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	s.writeError(w, r, err)
}

// startBodyDeadline bounds the time to read r's body, whoever reads it (a handler,
// or Go's server discarding what a handler left): a client that declares a body and
// never sends it would otherwise hold its connection for good.
func startBodyDeadline(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	n := r.ContentLength
	if n < 0 {
		n = maxCodeRequestBytes
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout(n)))
}
