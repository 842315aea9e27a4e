package logs

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/store"
)

func TestMergeKeepsEachStreamInOrder(t *testing.T) {
	caller := []byte("a1\nSPARE")
	batch := []appended{
		{"f", "s1", caller[:3]},
		{"f", "s2", []byte("b1\n")},
		{"g", "s1", []byte("c1\n")}, // another function's stream of the same name
		{"f", "s1", []byte("a2\n")},
		{"f", "s2", []byte("b2\n")},
	}
	got := merge(batch)
	want := []appended{{"f", "s1", []byte("a1\na2\n")}, {"f", "s2", []byte("b1\nb2\n")}, {"g", "s1", []byte("c1\n")}}
	if len(got) != len(want) {
		t.Fatalf("merge gave %d messages, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if got[i].function != want[i].function || got[i].logStream != want[i].logStream || !bytes.Equal(got[i].text, want[i].text) {
			t.Errorf("message %d = %s/%s %q, want %s/%s %q", i, got[i].function, got[i].logStream, got[i].text, want[i].function, want[i].logStream, want[i].text)
		}
	}
	if string(caller) != "a1\nSPARE" {
		t.Errorf("merge wrote into an appended slice's spare capacity: %q", caller)
	}
}

func TestMergeSplitsLargeStreams(t *testing.T) {
	chunk := bytes.Repeat([]byte("x"), maxMessage/3+1)
	var batch []appended
	for range 5 {
		batch = append(batch, appended{"f", "s", chunk})
	}
	got := merge(batch)
	total := 0
	for _, m := range got {
		if len(m.text) > maxMessage {
			t.Errorf("a merged message of %d bytes exceeds %d", len(m.text), maxMessage)
		}
		total += len(m.text)
	}
	if total != 5*len(chunk) || len(got) != 3 {
		t.Errorf("merge gave %d messages of %d bytes in all; want 3 holding %d", len(got), total, 5*len(chunk))
	}
}

// TestAppendReachesJetStream appends from many goroutines to a real embedded
// JetStream and reads every line back, in order within each log stream.
func TestAppendReachesJetStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := Open(ctx, st.JetStream(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	const writers, lines = 8, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				s.Append("fn", fmt.Sprintf("stream-%d", w), fmt.Appendf(nil, "w%d line %d\n", w, i))
			}
		}()
	}
	wg.Wait()
	s.Close(ctx)
	s.Append("fn", "stream-0", []byte("after close\n")) // dropped, not a panic

	text := map[string]*strings.Builder{}
	err = s.Read(ctx, "fn", time.Time{}, false, func(r Record) error {
		if text[r.LogStream] == nil {
			text[r.LogStream] = &strings.Builder{}
		}
		text[r.LogStream].Write(r.Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		var want strings.Builder
		for i := range lines {
			fmt.Fprintf(&want, "w%d line %d\n", w, i)
		}
		b := text[fmt.Sprintf("stream-%d", w)]
		if b == nil || b.String() != want.String() {
			got := ""
			if b != nil {
				got = b.String()
			}
			t.Errorf("stream-%d read back %d bytes, want %d in order", w, len(got), want.Len())
		}
	}
	if s.Dropped() != int64(len("after close\n")) {
		t.Errorf("Dropped() = %d, want the one append after Close", s.Dropped())
	}
}

// A text over the message limit is cut, never sent whole: JetStream would refuse it.
func TestMergeCutsLongText(t *testing.T) {
	long := bytes.Repeat([]byte("y"), 3*maxMessage+17)
	for _, batch := range [][]appended{
		{{"f", "s", long}},
		{{"f", "s", []byte("before\n")}, {"f", "s", long}, {"f", "t", []byte("other\n")}},
	} {
		var total, want int
		for _, a := range batch {
			want += len(a.text)
		}
		var joined []byte
		for _, m := range merge(batch) {
			if len(m.text) > maxMessage {
				t.Fatalf("a message of %d bytes exceeds %d", len(m.text), maxMessage)
			}
			total += len(m.text)
			if m.logStream == "s" {
				joined = append(joined, m.text...)
			}
		}
		if total != want {
			t.Fatalf("merge kept %d bytes of %d", total, want)
		}
		if !bytes.HasSuffix(joined, long) {
			t.Fatalf("stream s does not end with the long text, in order")
		}
	}
}
