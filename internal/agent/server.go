package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// The Runtime API, version 2018-06-01, as AWS documents it:
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
const (
	apiPrefix      = "/2018-06-01/runtime/"
	pathNext       = "invocation/next"
	pathInitError  = "init/error"
	pathInvocation = "invocation/"

	headerRequestID       = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline        = "Lambda-Runtime-Deadline-Ms"
	headerFunctionArn     = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID         = "Lambda-Runtime-Trace-Id"
	headerClientContext   = "Lambda-Runtime-Client-Context"
	headerCognitoIdentity = "Lambda-Runtime-Cognito-Identity"
	headerErrorType       = "Lambda-Runtime-Function-Error-Type"
	// Trailer aws-lambda-go fills in, with headerErrorType, when a streamed response
	// fails part way.
	trailerErrorBody = "Lambda-Runtime-Function-Error-Body"
)

// The Runtime API is served by a deliberately small HTTP/1.1 server rather than
// net/http: a warm invocation crosses it twice, and on small sandboxes net/http's
// per-request goroutine hand-offs, background reads and allocations cost more than
// the rest of hearth-init together. It speaks what runtime clients send (libcurl,
// Go's net/http, Node's http, Java's HttpURLConnection): Content-Length or chunked
// bodies with trailers, Expect: 100-continue, keep-alive and Connection: close. One
// goroutine per connection reads a request, answers it, then reads the next.
const (
	connBufSize    = 64 << 10
	maxHeaderBytes = 2 << 20 // aws-lambda-go sends X-Ray error causes of up to 1 MB as a header
	// maxDiscard bounds how much of an unwanted body is read and dropped to keep the
	// connection usable; past it the connection is closed.
	maxDiscard = 64 << 20
)

var (
	errBadRequest      = errors.New("malformed HTTP request")
	errHeaderTooLarge  = errors.New("request header too large")
	errUnsupportedTE   = errors.New("unsupported transfer encoding")
	bodyAccepted       = []byte("{\"status\":\"OK\"}\n")
	responseAccepted   = []byte("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
	response100        = []byte("HTTP/1.1 100 Continue\r\n\r\n")
	crlf               = []byte("\r\n")
	chunkedSuffix      = []byte("chunked")
	closeToken         = []byte("close")
	keepAliveToken     = []byte("keep-alive")
	continueToken      = []byte("100-continue")
	hdrContentLength   = []byte("Content-Length")
	hdrTransferEnc     = []byte("Transfer-Encoding")
	hdrConnection      = []byte("Connection")
	hdrExpect          = []byte("Expect")
	hdrErrorType       = []byte(headerErrorType)
	hdrErrorBody       = []byte(trailerErrorBody)
	methodGET          = []byte("GET")
	methodPOST         = []byte("POST")
	absoluteFormPrefix = []byte("http://")
)

// serve accepts runtime connections until the listener is closed. Other accept
// errors (EMFILE: the function leaks descriptors) pass; giving up would take the
// Runtime API away from a runtime that may still recover.
func (a *Agent) serve(ln net.Listener) {
	backoff := time.Duration(0)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if backoff == 0 {
				a.diag.Printf("runtime API: %v", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go a.serveConn(nc)
	}
}

// conn is one runtime connection and the request being served on it. Its buffers
// live as long as the connection, so serving a request allocates nothing.
type conn struct {
	a  *Agent
	nc net.Conn
	rw io.ReadWriter // nc, with raw system calls where possible (pollFD)
	br *bufio.Reader
	w  []byte // response being assembled

	wake chan struct{} // this connection's /next waiter channel (see Agent.waiters)

	// The current request.
	method, path   []byte // copies: the bufio buffer moves on
	errorType      []byte // Lambda-Runtime-Function-Error-Type
	contentLength  int64  // -1 when chunked
	chunked        bool
	closeAfter     bool // answer, then close
	expectContinue bool
	continueSent   bool
	headerBudget   int

	// Body reading state.
	remaining int64 // bytes left: of the body (Content-Length) or of the current chunk
	bodyEOF   bool
	chunkSeen bool // a chunk header was read, so a CRLF ends its data

	// Trailers of a chunked body.
	trailerErrorType, trailerErrorBody []byte
}

func (a *Agent) serveConn(nc net.Conn) {
	defer nc.Close()
	c := &conn{a: a, nc: nc, rw: nc, w: make([]byte, 0, 4<<10), wake: make(chan struct{}, 1)}
	if sc, ok := nc.(syscall.Conn); ok {
		if p := newPollFD(sc); p != nil {
			c.rw = p
		}
	}
	c.br = bufio.NewReaderSize(c.rw, connBufSize)
	for {
		if err := c.readRequest(); err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			case errors.Is(err, errHeaderTooLarge):
				c.closeAfter = true
				c.renderError(431, "RequestHeaderFieldsTooLarge", err.Error())
			case errors.Is(err, errUnsupportedTE):
				c.closeAfter = true
				c.renderError(501, "NotImplemented", err.Error())
			case errors.Is(err, errBadRequest):
				c.closeAfter = true
				c.renderError(400, "BadRequest", err.Error())
			}
			return
		}
		c.route()
		if c.closeAfter {
			return
		}
	}
}

// route dispatches the request to its endpoint's file.
func (c *conn) route() {
	a := c.a
	path, ok := bytes.CutPrefix(c.path, []byte(apiPrefix))
	get, post := bytes.Equal(c.method, methodGET), bytes.Equal(c.method, methodPOST)
	switch {
	case !ok:
	case string(path) == pathNext:
		if get {
			a.invocationNext(c)
			return
		}
	case string(path) == pathInitError:
		if post {
			a.initError(c)
			return
		}
	case post && bytes.HasPrefix(path, []byte(pathInvocation)):
		id, action, ok := bytes.Cut(path[len(pathInvocation):], []byte("/"))
		if ok && len(id) > 0 {
			switch string(action) {
			case "response":
				a.invocationResponse(c, id)
				return
			case "error":
				a.invocationError(c, id)
				return
			}
		}
	}
	c.renderError(404, "NotFound", "No Runtime API resource at "+string(c.method)+" "+string(c.path))
}

// readRequest reads a request line and headers, leaving the body in br.
func (c *conn) readRequest() error {
	c.method, c.path, c.errorType = c.method[:0], c.path[:0], c.errorType[:0]
	c.trailerErrorType, c.trailerErrorBody = c.trailerErrorType[:0], c.trailerErrorBody[:0]
	c.contentLength, c.chunked, c.expectContinue, c.continueSent = 0, false, false, false
	c.remaining, c.bodyEOF, c.chunkSeen = 0, false, false
	c.headerBudget = maxHeaderBytes

	line, err := c.readLine()
	for err == nil && len(line) == 0 { // RFC 9112: ignore empty lines before a request
		line, err = c.readLine()
	}
	if err != nil {
		return err
	}
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 || !bytes.HasPrefix(proto, []byte("HTTP/1.")) {
		return errBadRequest
	}
	http10 := bytes.Equal(proto, []byte("HTTP/1.0"))
	c.closeAfter = http10
	if bytes.HasPrefix(target, absoluteFormPrefix) { // absolute-form: keep only the path
		if i := bytes.IndexByte(target[len(absoluteFormPrefix):], '/'); i >= 0 {
			target = target[len(absoluteFormPrefix)+i:]
		}
	}
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	c.method = append(c.method, method...)
	c.path = append(c.path, target...)

	haveLength := false
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return errBadRequest
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, hdrContentLength):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (haveLength && n != c.contentLength) {
				return errBadRequest
			}
			c.contentLength, haveLength = n, true
		case bytes.EqualFold(name, hdrTransferEnc):
			if !hasSuffixFold(value, chunkedSuffix) {
				return errUnsupportedTE
			}
			c.chunked = true
		case bytes.EqualFold(name, hdrConnection):
			if containsFold(value, closeToken) {
				c.closeAfter = true
			} else if http10 && containsFold(value, keepAliveToken) {
				c.closeAfter = false
			}
		case bytes.EqualFold(name, hdrExpect):
			c.expectContinue = bytes.EqualFold(value, continueToken)
		case bytes.EqualFold(name, hdrErrorType):
			c.errorType = append(c.errorType[:0], value...)
		}
	}
	if c.chunked {
		c.contentLength = -1 // chunked wins over Content-Length (RFC 9112 6.3)
	} else {
		c.remaining = c.contentLength
		c.bodyEOF = c.contentLength == 0
	}
	return nil
}

// readLine returns one line without its line ending. Lines longer than the read
// buffer come back cut to the buffer; the rest is skipped (no header the API reads
// is that long). Every line counts against the header budget.
func (c *conn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	long := false
	for errors.Is(err, bufio.ErrBufferFull) {
		c.headerBudget -= len(line)
		if c.headerBudget < 0 {
			return nil, errHeaderTooLarge
		}
		if !long {
			// Keep the first part: it names the header. Copy it, the buffer moves on.
			c.w = append(c.w[:0], line...)
			long = true
		}
		line, err = c.br.ReadSlice('\n')
	}
	if err != nil {
		if err == io.EOF && (len(line) > 0 || long) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	c.headerBudget -= len(line)
	if c.headerBudget < 0 {
		return nil, errHeaderTooLarge
	}
	if long {
		return c.w, nil // cut: no line ending to strip
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// Read reads the current request's body (io.Reader).
func (c *conn) Read(p []byte) (int, error) {
	if c.bodyEOF {
		return 0, io.EOF
	}
	if c.expectContinue && !c.continueSent {
		c.continueSent = true
		if _, err := c.rw.Write(response100); err != nil {
			return 0, err
		}
	}
	if c.remaining == 0 && c.chunked {
		if err := c.nextChunk(); err != nil {
			return 0, err
		}
		if c.bodyEOF {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	c.remaining -= int64(n)
	if c.remaining == 0 && !c.chunked {
		c.bodyEOF = true
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// nextChunk reads the CRLF that ends the previous chunk's data, then the next chunk
// header; after the last chunk it reads the trailers.
func (c *conn) nextChunk() error {
	c.headerBudget = maxHeaderBytes // a fresh budget for chunk lines and trailers
	if c.chunkSeen {
		line, err := c.readLine()
		if err != nil {
			return unexpected(err)
		}
		if len(line) != 0 {
			return errBadRequest
		}
	}
	line, err := c.readLine()
	if err != nil {
		return unexpected(err)
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 { // chunk extensions mean nothing here
		line = line[:i]
	}
	size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
	if err != nil || size < 0 {
		return errBadRequest
	}
	c.chunkSeen = true
	if size > 0 {
		c.remaining = size
		return nil
	}
	for { // trailers, then the empty line
		line, err := c.readLine()
		if err != nil {
			return unexpected(err)
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return errBadRequest
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, hdrErrorType):
			c.trailerErrorType = append(c.trailerErrorType[:0], value...)
		case bytes.EqualFold(name, hdrErrorBody):
			c.trailerErrorBody = append(c.trailerErrorBody[:0], value...)
		}
	}
	c.bodyEOF = true
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// finishBody makes the connection ready for the next request after an answer that
// did not need the whole body: it reads and drops what is left, or, if the client
// still waits for 100-continue or the rest is too large, closes after answering.
func (c *conn) finishBody() {
	if c.bodyEOF {
		return
	}
	if c.expectContinue && !c.continueSent {
		c.closeAfter = true // the client never sent the body; it must not follow
		return
	}
	n, err := io.Copy(io.Discard, io.LimitReader(c, maxDiscard))
	if err != nil || (n == maxDiscard && !c.bodyEOF) {
		c.closeAfter = true
	}
}

// respond writes a complete response: head, optional extra head lines, body.
func (c *conn) respond(status int, body []byte) {
	c.finishBody()
	w := append(c.w[:0], "HTTP/1.1 "...)
	w = strconv.AppendInt(w, int64(status), 10)
	w = append(w, ' ')
	w = append(w, statusText(status)...)
	w = append(w, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	if c.closeAfter {
		w = append(w, "\r\nConnection: close"...)
	}
	w = append(w, "\r\n\r\n"...)
	w = append(w, body...)
	c.w = w
	_, _ = c.rw.Write(w)
}

func (c *conn) renderAccepted() {
	c.finishBody()
	if c.closeAfter {
		c.respond(202, bodyAccepted)
		return
	}
	_, _ = c.rw.Write(responseAccepted)
}

// renderError answers with the Runtime API's error shape.
func (c *conn) renderError(status int, errorType, msg string) {
	c.respond(status, append(errorDoc(msg, errorType), '\n'))
}

// renderStateError is RAPID's answer to a call the current state does not allow.
func (c *conn) renderStateError(from State, to string) {
	c.renderError(403, "InvalidStateTransition",
		"State transition from "+from.String()+" to "+to+" failed for runtime. Error: "+ErrNotAllowed.Error())
}

func (c *conn) renderInvalidRequestID() {
	c.renderError(400, "InvalidRequestID", "Invalid request ID")
}

// renderEvent answers /next with an invocation: its precomputed head, then the event.
func (c *conn) renderEvent(inv *invocation) {
	c.finishBody()
	if c.closeAfter {
		c.w = append(append(c.w[:0], inv.head...), "Connection: close\r\n\r\n"...)
	} else {
		c.w = append(append(c.w[:0], inv.head...), crlf...)
	}
	if len(inv.body) <= 16<<10 {
		c.w = append(c.w, inv.body...)
		_, _ = c.rw.Write(c.w)
		return
	}
	bufs := [2][]byte{c.w, inv.body} // no copy of a large event
	for _, b := range bufs {
		if _, err := c.rw.Write(b); err != nil {
			return
		}
	}
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 202:
		return "Accepted"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 413:
		return "Request Entity Too Large"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	}
	return "Status"
}

func hasSuffixFold(s, suffix []byte) bool {
	return len(s) >= len(suffix) && bytes.EqualFold(s[len(s)-len(suffix):], suffix)
}

func containsFold(s, token []byte) bool {
	for i := 0; i+len(token) <= len(s); i++ {
		if bytes.EqualFold(s[i:i+len(token)], token) {
			return true
		}
	}
	return false
}

// errorResponse is the Runtime API's error shape (and Lambda's function error shape).
type errorResponse struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// errorDoc is a function error document {"errorMessage","errorType"}.
func errorDoc(msg, errorType string) []byte {
	b, _ := json.Marshal(errorResponse{ErrorMessage: msg, ErrorType: errorType})
	return b
}

// normalizeErrorDoc returns what a runtime posted as an error, as the JSON error
// document Lambda hands back: the body itself when it is JSON, else the body wrapped
// as the message. It also returns the document's errorType and errorMessage when it
// has them.
func normalizeErrorDoc(body []byte, headerType string) (doc []byte, docType, docMessage string) {
	if !json.Valid(body) {
		t := headerType
		if t == "" {
			t = errorTypeUnhandled
		}
		return errorDoc(string(body), t), t, string(body)
	}
	var e errorResponse
	_ = json.Unmarshal(body, &e) // not an object: no fields, still passed through
	return body, e.ErrorType, e.ErrorMessage
}
