package agent

import (
	"bytes"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/agentproto"
)

const (
	// MaxLogFrame caps the body of one Log frame; a longer line goes out in pieces.
	MaxLogFrame = 256 << 10
	// partialLineDelay is how long a line without its newline waits for the rest
	// before it is forwarded as it is (a prompt, a progress dot, a crash mid-line).
	partialLineDelay = 20 * time.Millisecond
	// boundaryReads bounds one drain at an invocation boundary, so a runtime that
	// never stops writing cannot hold the boundary forever.
	boundaryReads = 64
	readChunk     = 64 << 10
)

// capture turns the runtime's stdout and stderr into Log frames, one per line
// (the newline included; a line's pieces concatenate to the exact bytes written),
// tagged with the request id of the invocation in flight when the bytes were read.
//
// The tag only changes in boundary, which first drains both pipes, so bytes are
// attributed to the invocation during which the runtime wrote them: anything the
// runtime wrote before posting its response was in the pipe when the response
// arrived. All reads, the tag and the pending frames are guarded by mu.
type capture struct {
	mu      sync.Mutex
	out     *frameWriter
	tag     string
	streams [2]*stream
	batch   bytes.Buffer // encoded Log frames, written in one go
	hdr     agentproto.Log
	closed  bool // the environment ended: output is still drained, no longer sent
}

type stream struct {
	c       *capture
	name    string
	f       *os.File // read end, non-blocking, in the runtime poller
	fd      int
	rc      syscall.RawConn
	buf     []byte
	partial []byte // bytes after the last newline, not yet forwarded
	timer   *time.Timer
	armed   bool
	eof     bool
}

// newCapture makes the two pipes. The write ends go to the runtime and are blocking:
// O_NONBLOCK lives in the shared file description and would make the runtime's
// writes fail with EAGAIN.
func newCapture(out *frameWriter) (c *capture, stdout, stderr *os.File, err error) {
	c = &capture{out: out}
	var w [2]*os.File
	for i, name := range []string{"stdout", "stderr"} {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return nil, nil, nil, os.NewSyscallError("pipe2", err)
		}
		if err := syscall.SetNonblock(p[0], true); err != nil {
			return nil, nil, nil, os.NewSyscallError("setnonblock", err)
		}
		s := &stream{c: c, name: name, fd: p[0], buf: make([]byte, readChunk)}
		s.f = os.NewFile(uintptr(p[0]), "runtime "+name)
		if s.rc, err = s.f.SyscallConn(); err != nil {
			return nil, nil, nil, err
		}
		s.timer = time.AfterFunc(time.Hour, s.flushPartial)
		s.timer.Stop()
		c.streams[i] = s
		w[i] = os.NewFile(uintptr(p[1]), "runtime "+name+" (write end)")
	}
	return c, w[0], w[1], nil
}

// run reads both pipes until EOF.
func (c *capture) run() {
	go c.streams[1].run()
	c.streams[0].run()
}

func (s *stream) run() {
	_ = s.rc.Read(func(uintptr) bool {
		// One chunk per lock, so a boundary can cut in while the runtime floods.
		for {
			s.c.mu.Lock()
			more := s.readLocked()
			eof := s.eof
			s.c.flushLocked()
			s.c.mu.Unlock()
			if !more {
				return eof // false: wait for the poller to say there is more
			}
		}
	})
}

// boundary drains both pipes under the current tag, forwards partial lines, runs
// then (which writes the frame that ends a phase or an invocation) and switches the
// tag to next. Nothing read under the old tag can follow what then writes.
func (c *capture) boundary(next string, then func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ready := c.readyLocked()
	for k, s := range c.streams {
		for i := 0; ready[k] && i < boundaryReads && s.readLocked(); i++ {
		}
		s.emit(s.partial)
		s.partial = s.partial[:0]
	}
	c.flushLocked()
	if then != nil {
		then()
	}
	c.tag = next
}

// readyLocked reports which streams have something to read now (bytes, EOF or an
// error), from one ppoll(2) that does not wait. Most boundaries find both pipes
// empty, and under gVisor each system call is a round trip between the runtime's
// stub and the Sentry: one poll costs half the two reads that would each fail with
// EAGAIN. The poll sees what a read would: the bytes the runtime wrote before it
// posted its response are in the pipe by then. If the poll fails, every stream
// counts as ready and the drain reads as it always did.
func (c *capture) readyLocked() (ready [2]bool) {
	var fds [2]unix.PollFd
	var which [2]int
	n := 0
	for k, s := range c.streams {
		if !s.eof {
			fds[n] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
			which[n] = k
			n++
		}
	}
	if n == 0 {
		return ready
	}
	var zero unix.Timespec // do not wait
	for {
		// Raw, like rawRead: a poll that cannot block needs no entersyscall.
		_, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(n), uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		for i := 0; i < n; i++ {
			ready[which[i]] = e != 0 || fds[i].Revents != 0
		}
		return ready
	}
}

// readLocked reads one chunk and turns it into frames. It reports whether there may
// be more to read right away.
func (s *stream) readLocked() bool {
	if s.eof {
		return false
	}
	for {
		n, err := rawRead(s.fd, s.buf) // non-blocking, in the poller: see pollFD
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case err != nil || n == 0:
			// EOF: the runtime and everything it started closed their copies.
			s.eof = true
			s.emit(s.partial)
			s.partial = s.partial[:0]
			return false
		}
		s.consume(s.buf[:n])
		return true
	}
}

func (s *stream) consume(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.partial = append(s.partial, b...)
			for len(s.partial) >= MaxLogFrame {
				s.emit(s.partial[:MaxLogFrame])
				s.partial = append(s.partial[:0], s.partial[MaxLogFrame:]...)
			}
			if len(s.partial) > 0 && !s.armed {
				s.armed = true
				s.timer.Reset(partialLineDelay)
			}
			return
		}
		line := b[:i+1]
		b = b[i+1:]
		if len(s.partial) > 0 {
			s.partial = append(s.partial, line...)
			s.emit(s.partial)
			s.partial = s.partial[:0]
		} else {
			s.emit(line)
		}
	}
}

// flushPartial forwards a partial line that waited partialLineDelay.
func (s *stream) flushPartial() {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.armed = false
	for i := 0; i < boundaryReads && s.readLocked(); i++ {
	}
	s.emit(s.partial)
	s.partial = s.partial[:0]
	s.c.flushLocked()
}

// emit encodes b as Log frames of at most MaxLogFrame bytes each.
func (s *stream) emit(b []byte) {
	c := s.c
	for len(b) > 0 && !c.closed {
		n := min(len(b), MaxLogFrame)
		c.hdr = agentproto.Log{RequestID: c.tag, Stream: s.name}
		// Encoding into a bytes.Buffer cannot fail, and both sizes are far below MaxFrame.
		_ = agentproto.Write(&c.batch, agentproto.KindLog, &c.hdr, b[:n])
		b = b[n:]
	}
}

// close stops Log frames for good.
func (c *capture) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.batch.Reset()
}

func (c *capture) flushLocked() {
	if c.batch.Len() == 0 {
		return
	}
	if !c.closed {
		c.out.raw(c.batch.Bytes())
	}
	c.batch.Reset()
	if c.batch.Cap() > 1<<20 {
		c.batch = bytes.Buffer{} // do not keep a flood's buffer for the environment's life
	}
}
