package worker

import (
	"bytes"
	"fmt"
)

// Bounds of one invocation's log. A function is hostile code: whatever it writes,
// the server keeps a fixed amount of it in memory.
const (
	// MaxLogLineBytes is CloudWatch Logs' event size, which Lambda splits longer
	// lines at; a line longer than this is cut into lines of this size.
	MaxLogLineBytes = 256 << 10
	// MaxInvocationLogBytes caps the function output one invocation (or one init
	// phase) sends to its log stream; past it the rest is counted and dropped, and
	// one line says how much. What is sent passes through a few buffers on its way
	// to JetStream (the log store's, the NATS client's and server's), so the cap,
	// times those, is what one flooding invocation can add to the server's memory:
	// at 16 MB a 1 GB flood peaked at +63 MB, at 8 MB it stays near +30 MB.
	MaxInvocationLogBytes = 8 << 20
	// TailBytes is what LogType Tail returns: the last 4 KB of the invocation's log.
	TailBytes = 4 << 10
	// logFlushBytes is how much output waits before it goes to the sink: one message
	// for an ordinary invocation, and a bounded buffer for a flood.
	logFlushBytes = 64 << 10
)

// invocationLog is one invocation's log on its way to the log sink: Lambda's
// platform lines (START, END, REPORT, errors) whole, the function's output split
// into lines of at most MaxLogLineBytes and capped at MaxInvocationLogBytes. It
// holds at most logFlushBytes plus the tail in memory, whatever the function writes.
// Not safe for concurrent use; the env's mutex guards it.
type invocationLog struct {
	sink    func(text []byte) // nil: only the tail is kept
	pending []byte            // not yet handed to sink
	tail    []byte            // the last ≥ TailBytes written (at most 2×TailBytes)
	output  int64             // function output bytes accepted
	dropped int64             // function output bytes past the cap
	lineLen int               // bytes since the last newline of function output
}

func newInvocationLog(sink func([]byte)) *invocationLog {
	return &invocationLog{sink: sink}
}

// platform appends text of Hearth's own (START, END, REPORT, error lines). It is
// not the function's and is never dropped.
func (l *invocationLog) platform(text []byte) {
	if l.lineLen > 0 {
		// Keep the platform's line its own even after unterminated output.
		l.write([]byte{'\n'})
		l.lineLen = 0
	}
	l.write(text)
}

// platformf is platform with formatting.
func (l *invocationLog) platformf(format string, args ...any) {
	l.platform(fmt.Appendf(nil, format, args...))
}

// functionOutput appends what the function wrote to stdout or stderr.
func (l *invocationLog) functionOutput(b []byte) {
	for len(b) > 0 {
		room := MaxInvocationLogBytes - l.output
		if room <= 0 {
			l.dropped += int64(len(b))
			return
		}
		// Up to the end of the current line, or what still fits in it: a line holds
		// at most MaxLogLineBytes before its newline.
		n := len(b)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			n = i + 1
		}
		content := n
		if b[n-1] == '\n' {
			content--
		}
		if l.lineLen+content > MaxLogLineBytes {
			n = MaxLogLineBytes - l.lineLen
		}
		n = int(min(int64(n), room))
		piece := b[:n]
		b = b[n:]
		l.write(piece)
		l.output += int64(n)
		if piece[n-1] == '\n' {
			l.lineLen = 0
		} else {
			l.lineLen += n
			if l.lineLen == MaxLogLineBytes {
				l.write([]byte{'\n'})
				l.lineLen = 0
			}
		}
	}
}

// noteDropped writes one line saying how much output was dropped, if any was.
func (l *invocationLog) noteDropped() {
	if l.dropped > 0 {
		l.platformf("[hearth] %d bytes of log output were dropped: an invocation may log at most %d MB\n",
			l.dropped, MaxInvocationLogBytes>>20)
		l.dropped = 0
	}
}

// finish notes what was dropped, flushes, and returns the tail.
func (l *invocationLog) finish() []byte {
	l.noteDropped()
	l.flush()
	return l.lastTail()
}

// lastTail returns (a copy of) the last TailBytes written.
func (l *invocationLog) lastTail() []byte {
	t := l.tail
	if len(t) > TailBytes {
		t = t[len(t)-TailBytes:]
	}
	return append([]byte(nil), t...)
}

func (l *invocationLog) write(b []byte) {
	l.tail = append(l.tail, b...)
	if len(l.tail) > 2*TailBytes {
		keep := l.tail[len(l.tail)-TailBytes:]
		l.tail = append(l.tail[:0], keep...)
	}
	if l.sink == nil {
		return
	}
	l.pending = append(l.pending, b...)
	if len(l.pending) >= logFlushBytes {
		l.flush()
	}
}

// flush hands what is pending to the sink, which keeps the slice.
func (l *invocationLog) flush() {
	if l.sink == nil || len(l.pending) == 0 {
		return
	}
	l.sink(l.pending)
	l.pending = nil
}
