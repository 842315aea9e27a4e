// Package agentproto is the framed, versioned protocol between the worker (host side)
// and hearth-init (PID 1 inside every sandbox), carried on one byte stream: the
// sandbox's stdio today, a vsock port in a microVM later. It must survive a snapshot
// restore, so it holds no connection state beyond the stream itself.
//
// A frame is
//
//	uint32 big-endian  n = length of everything after these 4 bytes (≤ MaxFrame)
//	uint8              message kind
//	uint32 big-endian  h = length of the header
//	h bytes            header: JSON of the kind's header struct
//	n-5-h bytes        body: raw bytes (an event, a response, log text)
//
// Bodies are raw so a 6 MB payload costs one copy, not a base64 round trip.
//
// Conversation:
//
//	worker → init:  Init                      (once, first)
//	init → worker:  InitDone | InitError       (the init phase ended)
//	worker → init:  Invoke                    (one at a time)
//	init → worker:  Log* then Result          (Result ends the invocation)
//	init → worker:  Log at any time; RuntimeExit when the runtime process dies
//	worker → init:  Shutdown                  (the env is being reaped)
package agentproto

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version; Init carries it and hearth-init refuses others.
const Version = 1

// MaxFrame bounds a frame: a 6 MB payload and response, with room for headers.
const MaxFrame = 8 << 20

// Kind identifies a message.
type Kind uint8

// The kinds.
const (
	KindInit Kind = iota + 1
	KindInitDone
	KindInitError
	KindInvoke
	KindResult
	KindLog
	KindRuntimeExit
	KindShutdown
)

func (k Kind) String() string {
	switch k {
	case KindInit:
		return "Init"
	case KindInitDone:
		return "InitDone"
	case KindInitError:
		return "InitError"
	case KindInvoke:
		return "Invoke"
	case KindResult:
		return "Result"
	case KindLog:
		return "Log"
	case KindRuntimeExit:
		return "RuntimeExit"
	case KindShutdown:
		return "Shutdown"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Init starts the init phase: hearth-init serves the Runtime API, then starts the
// runtime with Cmd and Env.
type Init struct {
	Version int `json:"version"`
	// Cmd is the runtime process: argv[0] is an absolute path inside the sandbox.
	Cmd []string `json:"cmd"`
	// Env is the runtime's whole environment (Lambda's variables and the function's).
	Env []string `json:"env"`
	// Dir is the runtime's working directory (/var/task).
	Dir string `json:"dir"`
	// RuntimeAPI is the address the Runtime API listens on (127.0.0.1:9001).
	RuntimeAPI string `json:"runtimeApi"`
	// InitTimeoutMs bounds the init phase: the runtime's first
	// GET /runtime/invocation/next must come within it.
	InitTimeoutMs int64 `json:"initTimeoutMs"`
	// UID and GID are the identity the runtime runs as (Lambda's sbx_user1051 is
	// 993). hearth-init itself runs as another identity, so the function can neither
	// signal, trace nor open /proc/1 of the process the worker trusts. Zero keeps
	// hearth-init's own identity (tests outside a sandbox).
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
}

// InitDone reports a finished init phase.
type InitDone struct {
	// DurationMs is from the runtime's start to its first /next.
	DurationMs float64 `json:"durationMs"`
}

// InitError reports a failed init phase: the runtime posted /init/error, exited, or
// timed out. The body is the error document the runtime posted, if any.
type InitError struct {
	ErrorType string `json:"errorType"` // e.g. Runtime.ExitError, Runtime.InitTimeout, or the runtime's own
	Message   string `json:"message"`
}

// Invoke hands one event to the runtime. The body is the payload.
type Invoke struct {
	RequestID       string `json:"requestId"`
	DeadlineMs      int64  `json:"deadlineMs"` // Unix milliseconds
	FunctionArn     string `json:"functionArn"`
	TraceID         string `json:"traceId,omitempty"`
	ClientContext   string `json:"clientContext,omitempty"`   // as the client sent it (base64 JSON)
	CognitoIdentity string `json:"cognitoIdentity,omitempty"` // JSON
}

// Result ends an invocation. The body is the response payload, or the error
// document the runtime posted.
type Result struct {
	RequestID string `json:"requestId"`
	// Error is set when the runtime posted to /invocation/{id}/error; ErrorType is its
	// Lambda-Runtime-Function-Error-Type header.
	Error     bool   `json:"error,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
}

// Log carries output of the runtime process. RequestID is the invocation it was
// written during ("" between invocations).
type Log struct {
	RequestID string `json:"requestId,omitempty"`
	Stream    string `json:"stream"` // "stdout" or "stderr"
}

// RuntimeExit reports that the runtime process ended; the env cannot serve again.
type RuntimeExit struct {
	ExitCode int    `json:"exitCode"`
	Signal   string `json:"signal,omitempty"`
	Reason   string `json:"reason"` // e.g. "Runtime exited with error: exit status 1"
}

// Shutdown asks hearth-init to stop the runtime and exit.
type Shutdown struct{}

// Frame is one decoded message.
type Frame struct {
	Kind   Kind
	Header []byte // JSON
	Body   []byte
}

// Decode unmarshals the header into v.
func (f *Frame) Decode(v any) error {
	if err := json.Unmarshal(f.Header, v); err != nil {
		return fmt.Errorf("agentproto: %s header: %w", f.Kind, err)
	}
	return nil
}

// ErrFrameTooLarge is returned for a frame over MaxFrame.
var ErrFrameTooLarge = errors.New("agentproto: frame too large")

// Write sends one message. It is not safe for concurrent use on one writer: callers
// serialise writes.
func Write(w io.Writer, kind Kind, header any, body []byte) error {
	h, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("agentproto: marshal %s: %w", kind, err)
	}
	n := 1 + 4 + len(h) + len(body)
	if n > MaxFrame {
		return fmt.Errorf("%w: %s of %d bytes", ErrFrameTooLarge, kind, n)
	}
	buf := make([]byte, 4+1+4+len(h), 4+n)
	binary.BigEndian.PutUint32(buf[0:4], uint32(n))
	buf[4] = byte(kind)
	binary.BigEndian.PutUint32(buf[5:9], uint32(len(h)))
	copy(buf[9:], h)
	buf = append(buf, body...)
	_, err = w.Write(buf)
	return err
}

// Read reads one message. A malformed frame is an error; the stream is then unusable.
func Read(r io.Reader) (*Frame, error) {
	return readInto(r, nil)
}

// Reader reads messages into a buffer it reuses: a frame (its header and body) is
// valid only until the next call. A reader that keeps a frame copies it; one that
// consumes most frames at once (the worker, for log frames) allocates nothing per
// frame.
type Reader struct {
	r   io.Reader
	buf []byte
}

// maxReuse bounds the buffer a Reader keeps: log frames (at most 256 KB of text)
// fit; a larger frame is read into a buffer of its own.
const maxReuse = 512 << 10

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next reads one message, valid until the next call.
func (rd *Reader) Next() (*Frame, error) {
	f, err := readInto(rd.r, &rd.buf)
	return f, err
}

// Clone returns a copy of f that outlives the Reader's next call.
func (f *Frame) Clone() *Frame {
	b := make([]byte, len(f.Header)+len(f.Body))
	n := copy(b, f.Header)
	copy(b[n:], f.Body)
	return &Frame{Kind: f.Kind, Header: b[:n:n], Body: b[n:]}
}

// readInto reads one message into *reuse (grown as needed; nil: a new buffer).
func readInto(r io.Reader, reuse *[]byte) (*Frame, error) {
	var pre [9]byte
	if _, err := io.ReadFull(r, pre[:4]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(pre[0:4])
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	if n < 5 {
		return nil, fmt.Errorf("agentproto: frame of %d bytes is shorter than its fixed header", n)
	}
	var buf []byte
	switch {
	case reuse == nil || n > maxReuse:
		// A large frame (a 6 MB response) gets its own buffer, which goes with it.
		buf = make([]byte, n)
	default:
		if uint32(cap(*reuse)) < n {
			*reuse = make([]byte, max(n, min(2*uint32(cap(*reuse)), maxReuse)))
		}
		buf = (*reuse)[:n]
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("agentproto: truncated frame: %w", io.ErrUnexpectedEOF)
	}
	kind := Kind(buf[0])
	if kind < KindInit || kind > KindShutdown {
		return nil, fmt.Errorf("agentproto: unknown message kind %d", buf[0])
	}
	h := binary.BigEndian.Uint32(buf[1:5])
	if uint64(h) > uint64(n-5) {
		return nil, fmt.Errorf("agentproto: header of %d bytes overruns a %d-byte frame", h, n)
	}
	return &Frame{Kind: kind, Header: buf[5 : 5+h], Body: buf[5+h:]}, nil
}
