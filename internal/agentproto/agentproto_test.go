package agentproto

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	payload := bytes.Repeat([]byte("x"), 6<<20)
	if err := Write(&buf, KindInvoke, Invoke{RequestID: "r1", DeadlineMs: 42}, payload); err != nil {
		t.Fatal(err)
	}
	if err := Write(&buf, KindResult, Result{RequestID: "r1", Error: true, ErrorType: "Unhandled"}, []byte(`{"errorMessage":"x"}`)); err != nil {
		t.Fatal(err)
	}
	f, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var inv Invoke
	if f.Kind != KindInvoke || f.Decode(&inv) != nil || inv.RequestID != "r1" || inv.DeadlineMs != 42 || !bytes.Equal(f.Body, payload) {
		t.Fatalf("invoke frame: %v %+v", f.Kind, inv)
	}
	f, err = Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if f.Kind != KindResult || f.Decode(&res) != nil || !res.Error || string(f.Body) != `{"errorMessage":"x"}` {
		t.Fatalf("result frame: %v %+v", f.Kind, res)
	}
	if _, err := Read(&buf); !errors.Is(err, io.EOF) {
		t.Fatalf("end of stream: %v", err)
	}
}

func TestRejects(t *testing.T) {
	if err := Write(io.Discard, KindInvoke, Invoke{}, make([]byte, MaxFrame)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized write: %v", err)
	}
	bad := [][]byte{
		{0xff, 0xff, 0xff, 0xff},         // too large
		{0, 0, 0, 2, 1, 0},               // shorter than fixed header
		{0, 0, 0, 5, 99, 0, 0, 0, 0},     // unknown kind
		{0, 0, 0, 6, 1, 0, 0, 0, 9, 'x'}, // header overruns
		{0, 0, 0, 9, 1, 0, 0, 0, 0},      // truncated
	}
	for _, b := range bad {
		if _, err := Read(bytes.NewReader(b)); err == nil {
			t.Errorf("% x: accepted", b)
		}
	}
}

// FuzzRead: any bytes either decode into frames that re-encode to the same bytes, or
// fail cleanly.
func FuzzRead(f *testing.F) {
	var seed bytes.Buffer
	_ = Write(&seed, KindInit, Init{Version: Version, Cmd: []string{"/var/task/bootstrap"}}, nil)
	_ = Write(&seed, KindLog, Log{Stream: "stdout"}, []byte("hello\n"))
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 5, 8, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			fr, err := Read(r)
			if err != nil {
				return
			}
			var out bytes.Buffer
			if err := Write(&out, fr.Kind, rawJSON(fr.Header), fr.Body); err != nil {
				if errors.Is(err, ErrFrameTooLarge) {
					return
				}
				// A header that is not JSON cannot be re-marshalled; Decode would reject it too.
				var v any
				if fr.Decode(&v) == nil {
					t.Fatalf("valid frame did not re-encode: %v", err)
				}
				return
			}
		}
	})
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// A Reader's frames share one buffer; Clone keeps one past the next read.
func TestReaderReusesItsBuffer(t *testing.T) {
	var buf bytes.Buffer
	for i, body := range []string{"first log", "second", "third, and longer than both"} {
		if err := Write(&buf, KindLog, Log{RequestID: string(rune('a' + i))}, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("b"), maxReuse+1)
	if err := Write(&buf, KindResult, Result{RequestID: "r"}, big); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf)
	f1, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	kept := f1.Clone()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	f3, _ := r.Next()
	if string(kept.Body) != "first log" || string(f3.Body) != "third, and longer than both" {
		t.Fatalf("bodies %q, %q", kept.Body, f3.Body)
	}
	f4, err := r.Next()
	if err != nil || !bytes.Equal(f4.Body, big) || cap(r.buf) > maxReuse {
		t.Fatalf("a frame over maxReuse: err %v, %d bytes, buffer kept %d", err, len(f4.Body), cap(r.buf))
	}
	var res Result
	if err := f4.Decode(&res); err != nil || res.RequestID != "r" {
		t.Fatalf("decode: %v %+v", err, res)
	}
}
