// Package lambdaapi is the HTTP edge of the Lambda API: it routes every operation of
// the API model, verifies SigV4, parses requests into control's typed inputs, and
// renders outputs and errors the way AWS does (x-amzn-RequestId, x-amzn-ErrorType,
// {"Type","message"}). It holds no state and makes no decisions of its own.
package lambdaapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hearthfn/hearth/internal/async"
	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/invoke"
	"github.com/hearthfn/hearth/internal/lambdaapi/sigv4"
	"github.com/hearthfn/hearth/internal/logs"
	"github.com/hearthfn/hearth/internal/session"
)

// Config is what the edge needs.
type Config struct {
	Control *control.Service
	// Credentials maps access key id → secret access key.
	Credentials map[string]string
	// Sessions checks the execution roles' temporary credentials; nil refuses them.
	Sessions *session.Issuer
	// Invoke runs invocations; nil leaves Invoke unimplemented (a control-only node).
	Invoke *invoke.Dispatcher
	// Async is the node's asynchronous invocation queue, for its view; nil on a
	// control-only node.
	Async *async.Queue
	// Logs serves function logs on /_hearth/logs/; nil when the node runs no worker.
	Logs *logs.Store
	// SQS serves the queue API (internal/sqsapi) on the same listener; nil: none.
	SQS http.Handler
	// MaxInflightBodyBytes bounds the request-body bytes held at once, over all
	// requests (serve's --max-inflight-body-mb); 0 = DefaultMaxInflightBodyBytes.
	MaxInflightBodyBytes int64
	Logger               *slog.Logger
	Now                  func() time.Time
}

// Server is the Lambda API's http.Handler.
type Server struct {
	ctl      *control.Service
	logs     *logs.Store
	verifier *sigv4.Verifier
	sts      *sigv4.Verifier // the same keys, for STS's scope
	sessions *session.Issuer
	inv      *invoke.Dispatcher // nil on a control-only node
	sqs      http.Handler       // the queue API, or nil
	async    *async.Queue       // nil on a control-only node
	codeKey  []byte             // signs code download URLs
	log      *slog.Logger
	now      func() time.Time
	handlers map[string]handlerFunc
	routes   []route
	bodies   bodyBudget
}

type handlerFunc func(ctx context.Context, rq *request) (any, error)

// request is one parsed API call.
type request struct {
	id     string // x-amzn-RequestId, which Invoke also hands the function
	op     *operation
	params map[string]string // path labels, unescaped
	query  url.Values
	header http.Header
	body   []byte
	host   string
}

func (rq *request) param(name string) string { return rq.params[name] }

// Size limits of request bodies (see bodyLimit). AWS's limit for a
// CreateFunction/UpdateFunctionCode call is the 50 MB zip in base64 plus the JSON
// around it.
const (
	maxCodeRequestBytes  = 70167211
	maxOtherRequestBytes = 6 * 1024 * 1024
)

// New builds the edge.
func New(cfg Config) *Server {
	s := &Server{
		ctl:      cfg.Control,
		logs:     cfg.Logs,
		sessions: cfg.Sessions,
		inv:      cfg.Invoke,
		sqs:      cfg.SQS,
		async:    cfg.Async,
		log:      cfg.Logger,
		now:      cfg.Now,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.bodies.limit = cfg.MaxInflightBodyBytes
	if s.bodies.limit <= 0 {
		s.bodies.limit = DefaultMaxInflightBodyBytes
	}
	s.verifier = &sigv4.Verifier{
		Region:  cfg.Control.Region(),
		Service: "lambda",
		Lookup: func(id string) (string, bool) {
			secret, ok := cfg.Credentials[id]
			return secret, ok
		},
		Now:     s.now,
		Session: cfg.Sessions.SigV4Lookup(),
	}
	s.sts = &sigv4.Verifier{Region: s.verifier.Region, Service: "sts", Lookup: s.verifier.Lookup, Now: s.now, Session: s.verifier.Session}
	// Code URLs are signed with a key derived from the first secret, so they stay
	// valid across a restart, as S3 presigned URLs would.
	mac := hmac.New(sha256.New, []byte("hearth code location"))
	for _, secret := range cfg.Credentials {
		mac.Write([]byte(secret))
		break
	}
	if len(cfg.Credentials) == 0 {
		var b [32]byte
		_, _ = rand.Read(b[:])
		mac.Write(b[:])
	}
	s.codeKey = mac.Sum(nil)
	s.handlers = map[string]handlerFunc{}
	s.registerFunctions()
	s.registerVersions()
	s.registerAliases()
	s.registerConcurrency()
	s.registerProvisioned()
	s.registerEventInvoke()
	s.registerMappings()
	s.registerTags()
	s.registerAccount()
	s.registerAbsent()
	if cfg.Invoke != nil {
		s.registerInvoke(cfg.Invoke)
	}
	s.routes = buildRoutes(operations)
	return s
}

func (s *Server) handle(op string, h handlerFunc) {
	if _, ok := s.handlers[op]; ok {
		panic("lambdaapi: operation registered twice: " + op)
	}
	s.handlers[op] = h
}

// ServeHTTP routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	startBodyDeadline(w, r)
	switch {
	case r.URL.Path == "/healthz":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
		return
	case strings.HasPrefix(r.URL.Path, codePathPrefix):
		s.serveCode(w, r)
		return
	case strings.HasPrefix(r.URL.Path, logsPathPrefix) && r.Method == http.MethodGet:
		s.serveLogs(w, r)
		return
	case r.URL.Path == concurrencyPath && r.Method == http.MethodGet:
		s.serveConcurrency(w, r)
		return
	case r.URL.Path == asyncPath && r.Method == http.MethodGet:
		s.serveAsync(w, r)
		return
	case s.sqs != nil && isSQSRequest(r):
		s.sqs.ServeHTTP(w, r)
		return
	case r.URL.Path == "/" && isSTSRequest(r):
		s.serveSTS(w, r, reqID)
		return
	}
	op, params, err := s.match(r)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	limit := bodyLimit(op.Name)
	if r.ContentLength > limit {
		s.refuse(w, r, tooLarge(op.Name, limit))
		return
	}
	// Everything about the signature that the body is not needed for, first: a
	// request that is not ours costs no body buffer and no share of the budget.
	sig, err := s.verifier.VerifyHeaders(r)
	if err != nil {
		s.refuse(w, r, authError(err))
		return
	}
	body, done, err := s.readBody(w, r, op.Name, limit)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	defer done()
	if _, err := sig.VerifyBody(body); err != nil {
		s.writeError(w, r, authError(err))
		return
	}
	who, err := s.callerOf(sig)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h, ok := s.handlers[op.Name]
	if !ok {
		s.writeError(w, r, errdefs.New(errdefs.ErrNotImplemented, "Hearth does not implement the %s operation yet.", op.Name))
		return
	}
	rq := &request{id: reqID, op: op, params: params, query: r.URL.Query(), header: r.Header, body: body, host: r.Host}
	if err := s.authorize(who, rq); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := h(r.Context(), rq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if raw, ok := out.(*rawResponse); ok {
		for k, v := range raw.header {
			w.Header()[k] = v
		}
		w.WriteHeader(raw.status)
		_, _ = w.Write(raw.body)
		return
	}
	status := op.Status
	if out == nil {
		if status == http.StatusOK {
			status = http.StatusNoContent
		}
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("%w: rendering the response: %v", errdefs.ErrService, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// authError maps the verifier's failures to their AWS kinds.
func authError(err error) error {
	kind := errdefs.ErrInvalidSignature
	switch {
	case errors.Is(err, sigv4.ErrMissingAuthenticationToken):
		kind = errdefs.ErrMissingAuthenticationToken
	case errors.Is(err, sigv4.ErrIncompleteSignature):
		kind = errdefs.ErrIncompleteSignature
	case errors.Is(err, sigv4.ErrUnrecognizedClient):
		kind = errdefs.ErrUnrecognizedClient
	case errors.Is(err, sigv4.ErrExpiredToken):
		kind = errdefs.ErrExpiredToken
	}
	msg := err.Error()
	// The verifier's messages start with the sentinel's name; AWS's don't.
	if i := strings.Index(msg, ": "); i > 0 && strings.HasSuffix(msg[:i], "Exception") {
		msg = msg[i+2:]
	}
	return errdefs.New(kind, "%s", msg)
}

// errorBody is Lambda's error document. Type says whose fault it is.
type errorBody struct {
	Type    string  `json:"Type"`
	Message *string `json:"message"`          // null when AWS sends none (AccessDeniedException)
	Reason  string  `json:"Reason,omitempty"` // a throttle's cause
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	kind := errdefs.KindOf(err)
	msg := errdefs.Message(err)
	fault := "User"
	if kind.Status >= 500 && kind != errdefs.ErrNotImplemented {
		fault = "Server"
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	doc := errorBody{Type: fault, Reason: errdefs.Reason(err)}
	if msg != "" {
		doc.Message = &msg
	}
	b, _ := json.Marshal(doc)
	w.Header().Set("x-amzn-ErrorType", kind.Type)
	if after := errdefs.RetryAfter(err); after > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(after))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(kind.Status)
	_, _ = w.Write(b)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// decode parses a JSON request body into v. An empty body is an empty object.
// Malformed JSON and wrong types are the caller's error, never a 500.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			field := typeErr.Field
			if field == "" {
				field = "(the request body)"
			}
			return errdefs.New(errdefs.ErrInvalidRequest, "Could not parse request body into json: %s must be a %s, not a JSON %s.", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		}
		return errdefs.New(errdefs.ErrInvalidRequest, "Could not parse request body into json: %v", err)
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice":
		return "list (or base64 string for a blob)"
	}
	return goKind
}

// queryInt reads an optional integer query parameter.
func queryInt(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errdefs.New(errdefs.ErrValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be an integer", v, name)
	}
	return n, nil
}

// maxItemsOf reads a list operation's MaxItems and checks it against the model's
// bounds for that operation (1 to max), in the words AWS uses for a range.
func maxItemsOf(q url.Values, max int) (int, error) {
	n, err := queryInt(q, "MaxItems")
	if err != nil || !q.Has("MaxItems") {
		return n, err
	}
	const msg = "1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value %s than or equal to %d"
	switch {
	case n < 1:
		return 0, errdefs.New(errdefs.ErrValidation, msg, n, "greater", 1)
	case n > max:
		return 0, errdefs.New(errdefs.ErrValidation, msg, n, "less", max)
	}
	return n, nil
}
