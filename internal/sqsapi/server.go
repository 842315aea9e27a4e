// Package sqsapi is the HTTP edge of Hearth's queues: SQS's two wire protocols, AWS
// JSON 1.0 (X-Amz-Target: AmazonSQS.<Op>; current SDKs) and the query protocol (a
// form with Action=…, answered in XML; older SDKs and the AWS CLI v1/v2 of some
// distributions), over SigV4 for service "sqs". Both parse into the same typed
// inputs (the query form is first turned into the JSON request's shape), call
// internal/sqs, and render outputs and sqs.Error in their own protocol. It holds no
// state of its own.
package sqsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hearthfn/hearth/internal/lambdaapi/sigv4"
	"github.com/hearthfn/hearth/internal/session"
	"github.com/hearthfn/hearth/internal/sqs"
)

// Config is what the edge needs.
type Config struct {
	Queues *sqs.Service
	// Credentials maps access key id → secret access key (the Lambda edge's).
	Credentials map[string]string
	// Sessions checks envs' temporary credentials; nil refuses them.
	Sessions *session.Issuer
	// MaxInflightBodyBytes bounds the request bodies held at once; 0 = 64 MiB.
	MaxInflightBodyBytes int64
	Logger               *slog.Logger
	Now                  func() time.Time
}

// MaxRequestBytes bounds one request body: a 1 MiB message, URL-encoded (up to 3
// bytes a byte) in a query-protocol form, fits; more is 413 before it is read.
const MaxRequestBytes = 4 << 20

const defaultInflight = 64 << 20

// Handler serves SQS.
type Handler struct {
	q        *sqs.Service
	verifier *sigv4.Verifier
	sessions *session.Issuer
	log      *slog.Logger
	now      func() time.Time
	limit    int64
	inflight atomic.Int64
}

// New builds the edge.
func New(cfg Config) *Handler {
	h := &Handler{q: cfg.Queues, sessions: cfg.Sessions, log: cfg.Logger, now: cfg.Now, limit: cfg.MaxInflightBodyBytes}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.limit <= 0 {
		h.limit = defaultInflight
	}
	creds := cfg.Credentials
	h.verifier = &sigv4.Verifier{
		Region:  cfg.Queues.Region(),
		Service: "sqs",
		Lookup: func(id string) (string, bool) {
			secret, ok := creds[id]
			return secret, ok
		},
		Now:     h.now,
		Session: cfg.Sessions.SigV4Lookup(),
	}
	return h
}

// protocol is how a request is spoken and must be answered.
type protocol int

const (
	protoJSON protocol = iota
	protoQuery
)

// call is one parsed request.
type call struct {
	id     string
	proto  protocol
	op     string
	host   string
	path   string // the request's path: the query protocol may name the queue by it
	sender string // SenderId: the account, or a role session's user id
	// trace is the request's X-Amzn-Trace-Id. The SDKs in a Lambda function send
	// their invocation's trace id there; SQS keeps it as the message's
	// AWSTraceHeader, which carries the request chain's Lineage through a queue to
	// the function a mapping invokes (recursive loop detection).
	trace string
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ServeHTTP answers one SQS request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{id: w.Header().Get("x-amzn-RequestId"), host: r.Host, path: r.URL.Path, trace: r.Header.Get("X-Amzn-Trace-Id")}
	if c.id == "" {
		c.id = newRequestID()
		w.Header().Set("x-amzn-RequestId", c.id)
	}
	target := r.Header.Get("X-Amz-Target")
	if op, ok := strings.CutPrefix(target, "AmazonSQS."); ok {
		c.proto, c.op = protoJSON, op
	} else {
		c.proto = protoQuery
	}
	if r.Method != http.MethodPost && !(c.proto == protoQuery && r.Method == http.MethodGet) {
		h.refuse(w, c, sqs.NewError("InvalidAction", "The HTTP method %s is not allowed for SQS.", r.Method))
		return
	}
	if r.ContentLength > MaxRequestBytes {
		h.refuse(w, c, &sqs.Error{Code: "RequestEntityTooLarge", QueryCode: "RequestEntityTooLarge", Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("Request body must be smaller than %d bytes.", MaxRequestBytes), Sender: true})
		return
	}
	// The signature's header part first: a stranger costs no body buffer.
	sig, err := h.verifier.VerifyHeaders(r)
	if err != nil {
		h.refuse(w, c, authError(err))
		return
	}
	body, done, err := h.readBody(w, r)
	if err != nil {
		h.refuse(w, c, err)
		return
	}
	defer done()
	if _, err := sig.VerifyBody(body); err != nil {
		h.writeError(w, c, authError(err))
		return
	}
	c.sender = h.q.AccountID()
	if tok := sig.SessionToken(); tok != "" {
		id, _, err := h.sessions.Check(sig.AccessKeyID(), tok)
		if err != nil {
			h.writeError(w, c, authError(fmt.Errorf("%w: %v", sigv4.ErrExpiredToken, err)))
			return
		}
		// An env's credentials may use the queues of their own account only.
		if id.Account != h.q.AccountID() {
			h.writeError(w, c, sqs.NewError("AccessDenied", "User: %s is not authorized to perform: sqs:%s", id.ARN(), c.op))
			return
		}
		c.sender = id.UserID()
	}
	var in *input
	switch c.proto {
	case protoJSON:
		in, err = parseJSON(body)
	default:
		in, err = parseQuery(r, body, c)
	}
	if err != nil {
		h.writeError(w, c, err)
		return
	}
	op, ok := operations[c.op]
	if ok && c.proto == protoQuery && queueless[c.op] && c.path != "/" && c.path != "" {
		// A queue's URL is the endpoint of its own operations only (AWS's
		// recorded answers).
		ok = false
	}
	if !ok {
		if c.op == "" && c.proto == protoQuery {
			// AWS answers a query request without an Action (a plain GET of a
			// queue's URL) with a bare UnknownOperationException document.
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><UnknownOperationException/>`))
			return
		}
		if c.op == "" {
			h.writeError(w, c, sqs.NewError("MissingAction", "The request must contain the parameter Action."))
			return
		}
		if unsupported[c.op] {
			h.writeError(w, c, sqs.NewError("UnsupportedOperation", "Hearth does not implement the %s operation yet.", c.op))
			return
		}
		h.writeError(w, c, sqs.NewError("InvalidAction", "The action %s is not valid for this endpoint.", c.op))
		return
	}
	out, err := op(r.Context(), h, c, in)
	if err != nil {
		h.writeError(w, c, err)
		return
	}
	h.writeOutput(w, c, out)
}

// readBody reads the body under the size cap and the in-flight budget.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, func(), error) {
	reserve := r.ContentLength
	if reserve < 0 {
		reserve = MaxRequestBytes + 1
	}
	if h.inflight.Add(reserve) > h.limit {
		h.inflight.Add(-reserve)
		w.Header().Set("Retry-After", "1")
		return nil, nil, &sqs.Error{Code: "RequestThrottled", QueryCode: "RequestThrottled", Status: http.StatusTooManyRequests,
			Message: "Too many request bytes in flight; try again.", Sender: true}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	used := int64(len(body))
	h.inflight.Add(used - reserve)
	done := func() { h.inflight.Add(-used) }
	if err != nil {
		done()
		return nil, nil, sqs.NewError("InvalidRequest", "The request body could not be read.")
	}
	if used > MaxRequestBytes {
		done()
		return nil, nil, &sqs.Error{Code: "RequestEntityTooLarge", QueryCode: "RequestEntityTooLarge", Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("Request body must be smaller than %d bytes.", MaxRequestBytes), Sender: true}
	}
	return body, done, nil
}

// authError maps the verifier's failures to the codes SQS answers them with.
func authError(err error) *sqs.Error {
	code := "SignatureDoesNotMatch"
	switch {
	case errors.Is(err, sigv4.ErrMissingAuthenticationToken):
		code = "MissingAuthenticationToken"
	case errors.Is(err, sigv4.ErrIncompleteSignature):
		code = "IncompleteSignature"
	case errors.Is(err, sigv4.ErrUnrecognizedClient):
		code = "InvalidClientTokenId"
	case errors.Is(err, sigv4.ErrExpiredToken):
		code = "ExpiredToken"
	}
	msg := err.Error()
	if i := strings.Index(msg, ": "); i > 0 && strings.HasSuffix(msg[:i], "Exception") {
		msg = msg[i+2:]
	}
	return &sqs.Error{Code: code, QueryCode: code, Status: http.StatusForbidden, Message: msg, Sender: true}
}

// refuse answers without reading the body and closes the connection, so the server
// does not drain a stranger's upload.
func (h *Handler) refuse(w http.ResponseWriter, c *call, err error) {
	w.Header().Set("Connection", "close")
	h.writeError(w, c, err)
}

func (h *Handler) writeError(w http.ResponseWriter, c *call, err error) {
	e := sqs.AsError(err)
	if e.Status >= 500 {
		h.log.Error("sqs request failed", "op", c.op, "err", err)
	}
	fault := "Sender"
	if !e.Sender {
		fault = "Receiver"
	}
	var b []byte
	if c.proto == protoJSON {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-query-error", e.QueryCode+";"+fault)
		b = jsonError(e)
	} else {
		w.Header().Set("Content-Type", "text/xml")
		b = queryError(e, fault, c.id)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

func (h *Handler) writeOutput(w http.ResponseWriter, c *call, out any) {
	var b []byte
	var err error
	if c.proto == protoJSON {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		b, err = jsonOutput(out)
	} else {
		w.Header().Set("Content-Type", "text/xml")
		b, err = queryOutput(c.op, c.id, out)
	}
	if err != nil {
		h.writeError(w, c, err)
		return
	}
	_, _ = w.Write(b)
}

// opFunc runs one operation.
type opFunc func(ctx context.Context, h *Handler, c *call, in *input) (any, error)
