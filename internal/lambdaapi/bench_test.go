package lambdaapi

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
)

func benchZip(tb testing.TB, size int) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Store}
	h.SetMode(0o755)
	f, _ := zw.CreateHeader(h)
	b := make([]byte, size)
	_, _ = rand.Read(b)
	_, _ = f.Write(b)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkCreateFunction1MB is the server's share of CreateFunction: verify, decode,
// inspect the zip, store it and the function. No network, no client.
func BenchmarkCreateFunction1MB(b *testing.B) {
	s := newTestServer(b)
	z := benchZip(b, 1<<20)
	for i := 0; b.Loop(); i++ {
		body, _ := json.Marshal(map[string]any{
			"FunctionName": fmt.Sprintf("f%d", i), "Runtime": "provided.al2023", "Handler": "bootstrap",
			"Role": "arn:aws:iam::000000000000:role/r", "Code": map[string]any{"ZipFile": z},
		})
		r := signed(b, "POST", "/2015-03-31/functions", body)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 201 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

func BenchmarkGetFunction(b *testing.B) {
	s := newTestServer(b)
	body, _ := json.Marshal(map[string]any{
		"FunctionName": "f", "Runtime": "provided.al2023", "Handler": "bootstrap",
		"Role": "arn:aws:iam::000000000000:role/r", "Code": map[string]any{"ZipFile": benchZip(b, 1000)},
	})
	s.ServeHTTP(httptest.NewRecorder(), signed(b, "POST", "/2015-03-31/functions", body))
	for b.Loop() {
		b.StopTimer()
		r := signed(b, "GET", "/2015-03-31/functions/f", nil)
		b.StartTimer()
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
