package agent

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// FuzzReadRequest feeds arbitrary bytes, as a runtime (untrusted code) may send them,
// through the Runtime API's request and body parsing.
func FuzzReadRequest(f *testing.F) {
	for _, seed := range []string{
		"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /2018-06-01/runtime/invocation/id/response HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"POST /2018-06-01/runtime/invocation/id/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nLambda-Runtime-Function-Error-Type: X\r\n\r\n",
		"POST /x HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"\r\n\r\nGET http://h/2018-06-01/runtime/invocation/next?x HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &conn{rw: struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(nil), io.Discard}}
		c.br = bufio.NewReaderSize(bytes.NewReader(data), 64) // small: exercise long lines
		for i := 0; i < 16; i++ {
			if err := c.readRequest(); err != nil {
				return
			}
			var body bytes.Buffer
			n, err := io.Copy(&body, io.LimitReader(c, int64(len(data))+1))
			if n > int64(len(data)) {
				t.Fatalf("read a %d-byte body out of %d bytes", n, len(data))
			}
			if err != nil {
				return
			}
		}
	})
}
