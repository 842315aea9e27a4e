package agent

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// pollFD does I/O on a non-blocking descriptor that is in the Go runtime's poller,
// with raw system calls. A regular syscall.Read or Write goes through entersyscall,
// which wakes the runtime's sysmon thread from its deep sleep on the first system
// call after the process went idle — that is, on nearly every invocation — and sets
// it polling every 20 µs for a while. On a small sandbox that thread was a third of
// hearth-init's CPU and a wake-up on the critical path. A raw call on a
// non-blocking descriptor never blocks, so it needs none of that; waiting is left to
// the poller (RawConn).
//
// One reader and one writer at a time, like an os.File.
type pollFD struct {
	rc syscall.RawConn

	// Arguments and results of the operation in flight, so that the callbacks are
	// bound once and an operation allocates nothing.
	rbuf, wbuf []byte
	rn, wn     int
	rerr, werr error
	readFn     func(uintptr) bool
	writeFn    func(uintptr) bool
}

// newPollFD wraps c if it is in the poller and non-blocking; otherwise it returns nil.
func newPollFD(c syscall.Conn) *pollFD {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	nonblocking := false
	_ = rc.Control(func(fd uintptr) {
		flags, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		nonblocking = e == 0 && flags&syscall.O_NONBLOCK != 0
	})
	if !nonblocking {
		return nil
	}
	p := &pollFD{rc: rc}
	p.readFn, p.writeFn = p.doRead, p.doWrite
	return p
}

// pollReader returns r as a pollFD reader when it is a non-blocking file or
// connection in the poller, else r itself.
func pollReader(r io.Reader) io.Reader {
	if c, ok := r.(syscall.Conn); ok {
		if p := newPollFD(c); p != nil {
			return p
		}
	}
	return r
}

// pollWriter is pollReader for writers.
func pollWriter(w io.Writer) io.Writer {
	if c, ok := w.(syscall.Conn); ok {
		if p := newPollFD(c); p != nil {
			return p
		}
	}
	return w
}

func (p *pollFD) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.rbuf, p.rn, p.rerr = b, 0, nil
	if err := p.rc.Read(p.readFn); err != nil {
		return 0, err
	}
	n, err := p.rn, p.rerr
	p.rbuf = nil
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

func (p *pollFD) doRead(fd uintptr) bool {
	for {
		n, err := rawRead(int(fd), p.rbuf)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case nil:
			p.rn = n
		default:
			p.rerr = os.NewSyscallError("read", err)
		}
		return true
	}
}

func (p *pollFD) Write(b []byte) (int, error) {
	p.wbuf, p.wn, p.werr = b, 0, nil
	if err := p.rc.Write(p.writeFn); err != nil {
		return p.wn, err
	}
	n, err := p.wn, p.werr
	p.wbuf = nil
	return n, err
}

func (p *pollFD) doWrite(fd uintptr) bool {
	for p.wn < len(p.wbuf) {
		n, err := rawWrite(int(fd), p.wbuf[p.wn:])
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case nil:
			p.wn += n
		default:
			p.werr = os.NewSyscallError("write", err)
			return true
		}
	}
	return true
}

// rawRead and rawWrite are read(2) and write(2) without entersyscall. Only for
// non-blocking descriptors: a raw call that blocks stalls the whole P.
func rawRead(fd int, b []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
