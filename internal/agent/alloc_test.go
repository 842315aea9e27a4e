package agent

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
)

// TestWarmInvocationAllocations drives the Runtime API side of warm invocations in
// process (a net.Pipe instead of TCP, no runtime process) and counts allocations.
// What remains is per frame: decoding the Invoke, the /next head, encoding the
// Result; the HTTP handling itself allocates nothing.
func TestWarmInvocationAllocations(t *testing.T) {
	cycle, done := warmCycle(t)
	defer done()
	allocs := testing.AllocsPerRun(200, cycle)
	t.Logf("%.1f allocations per warm invocation", allocs)
	if allocs > 11 {
		t.Errorf("%.1f allocations per warm invocation, want at most 11", allocs)
	}
}

// warmCycle sets up an Agent whose runtime has finished init and returns one warm
// invocation: GET /next, Invoke, the event, POST /response, 202.
func warmCycle(t testing.TB) (cycle func(), done func()) {
	a := New(Config{In: strings.NewReader(""), Out: io.Discard})
	logs, stdout, stderr, err := newCapture(&a.out)
	if err != nil {
		t.Fatal(err)
	}
	a.logs = logs
	a.state = StateReady

	server, client := net.Pipe()
	go a.serveConn(server)

	var frame agentproto.Frame
	frame.Kind = agentproto.KindInvoke
	frame.Header = []byte(`{"requestId":"c0ffee00-0000-4000-8000-000000000001","deadlineMs":1700000000000,"functionArn":"arn:aws:lambda:us-east-1:123456789012:function:f"}`)
	frame.Body = []byte(`{"key":"value"}`)
	var h agentproto.Invoke
	if err := frame.Decode(&h); err != nil {
		t.Fatal(err)
	}
	nextLen := len(newInvocation(&h, frame.Body).head) + 2 + len(frame.Body)
	getNext := []byte("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
	post := []byte("POST /2018-06-01/runtime/invocation/c0ffee00-0000-4000-8000-000000000001/response HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n\"hello\"")
	buf := make([]byte, 4096)
	_ = client.SetDeadline(time.Now().Add(30 * time.Second))

	cycle = func() {
		if _, err := client.Write(getNext); err != nil {
			t.Fatal(err)
		}
		if err := a.invoke(&frame); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, buf[:nextLen]); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write(post); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, buf[:len(responseAccepted)]); err != nil {
			t.Fatal(err)
		}
		if string(buf[:len(responseAccepted)]) != string(responseAccepted) {
			t.Fatalf("got %q", buf[:len(responseAccepted)])
		}
	}
	cycle() // warm the buffers
	return cycle, func() {
		client.Close()
		stdout.Close()
		stderr.Close()
	}
}
