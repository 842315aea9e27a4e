package worker

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestInvocationLogSplitsLongLines(t *testing.T) {
	var got []byte
	l := newInvocationLog(func(b []byte) { got = append(got, b...) })
	l.platform([]byte("START\n"))
	// One line of 2.5 × the limit, written in odd-sized pieces, then a short one.
	line := bytes.Repeat([]byte("a"), MaxLogLineBytes*5/2)
	for rest := line; len(rest) > 0; {
		n := min(len(rest), 10007)
		l.functionOutput(rest[:n])
		rest = rest[n:]
	}
	l.functionOutput([]byte("\nshort\n"))
	l.platform([]byte("END\n"))
	l.finish()
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	want := []int{5, MaxLogLineBytes, MaxLogLineBytes, MaxLogLineBytes / 2, 5, 3}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		if len(lines[i]) != w {
			t.Errorf("line %d has %d bytes, want %d", i, len(lines[i]), w)
		}
	}
}

func TestInvocationLogCapsOutput(t *testing.T) {
	var sent int
	var calls, maxCall int
	l := newInvocationLog(func(b []byte) { sent += len(b); calls++; maxCall = max(maxCall, len(b)) })
	l.platform([]byte("START\n"))
	chunk := bytes.Repeat([]byte("0123456789abcde\n"), 16<<10) // 256 KB of lines
	var written int64
	for written < 3*MaxInvocationLogBytes {
		l.functionOutput(chunk)
		written += int64(len(chunk))
		if len(l.pending) > logFlushBytes+len(chunk) || len(l.tail) > 2*TailBytes {
			t.Fatalf("buffers grew: pending %d, tail %d", len(l.pending), len(l.tail))
		}
	}
	l.noteDropped()
	l.platform([]byte("END\n"))
	tail := l.finish()
	if sent > MaxInvocationLogBytes+1024 {
		t.Fatalf("sent %d bytes, cap is %d", sent, MaxInvocationLogBytes)
	}
	if maxCall > logFlushBytes+len(chunk) {
		t.Fatalf("one sink call of %d bytes", maxCall)
	}
	dropped := written - MaxInvocationLogBytes
	if !bytes.Contains(tail, []byte("[hearth] ")) || !bytes.Contains(tail, []byte(" "+strconv.FormatInt(dropped, 10)+" bytes")) {
		t.Fatalf("tail does not say %d bytes were dropped: %q", dropped, tail)
	}
	if len(tail) != TailBytes || !bytes.HasSuffix(tail, []byte("END\n")) {
		t.Fatalf("tail is %d bytes ending %q", len(tail), tail[max(0, len(tail)-20):])
	}
}

func TestInvocationLogWithoutSinkKeepsTail(t *testing.T) {
	l := newInvocationLog(nil)
	l.tail = []byte("init output\n")
	l.platform([]byte("START\n"))
	l.functionOutput([]byte("no newline"))
	l.platform([]byte("END\n"))
	if got := string(l.finish()); got != "init output\nSTART\nno newline\nEND\n" {
		t.Fatalf("tail %q", got)
	}
}
