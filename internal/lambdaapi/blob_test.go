package lambdaapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestCutBlob(t *testing.T) {
	cases := []struct {
		body string
		ok   bool
		blob string
	}{
		{`{"Code":{"ZipFile":"aGVsbG8="},"FunctionName":"f"}`, true, "hello"},
		{`{"ZipFile" : "aGVsbG8=" }`, true, "hello"},
		{`{"Description":"\"ZipFile\":\"x\"","ZipFile":"aGk="}`, true, "hi"},
		{`{"Description":"ZipFile","ZipFile":"aGk="}`, true, "hi"},
		{`{"ZipFile":"aGk=","ZipFile":"aGk="}`, false, ""},
		{`{"ZipFile":null}`, false, ""},
		{`{"ZipFile":"aG\u0073="}`, false, ""},
		{`{"Other":"x"}`, false, ""},
		{`{"ZipFile":"aGk=`, false, ""},
	}
	for _, c := range cases {
		rest, blob, ok, err := cutBlob([]byte(c.body), "ZipFile")
		if err != nil || ok != c.ok || ok && string(blob) != c.blob {
			t.Errorf("%s: ok=%v blob=%q err=%v", c.body, ok, blob, err)
		}
		if ok && !json.Valid(rest) {
			t.Errorf("%s: rest %s is not JSON", c.body, rest)
		}
	}
	if _, _, _, err := cutBlob([]byte(`{"ZipFile":"!!!"}`), "ZipFile"); err == nil {
		t.Error("bad base64 accepted")
	}
}

// FuzzCutBlob checks the fast path against encoding/json: whenever cutBlob takes a
// body, encoding/json must read the same blob from it.
func FuzzCutBlob(f *testing.F) {
	for _, s := range []string{`{"Code":{"ZipFile":"aGVsbG8="}}`, `{"ZipFile":"aGk=","A":"\"ZipFile\""}`, `{"A":{"ZipFile":"aGk="},"B":[1,"x"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rest, blob, ok, err := cutBlob(body, "ZipFile")
		if !ok || err != nil {
			return
		}
		var want struct {
			ZipFile []byte
			Code    struct{ ZipFile []byte }
		}
		if json.Unmarshal(body, &want) != nil {
			return // invalid JSON elsewhere: the caller's json.Unmarshal of rest rejects it too
		}
		got := want.ZipFile
		if got == nil {
			got = want.Code.ZipFile
		}
		if got != nil && !bytes.Equal(got, blob) {
			t.Fatalf("%q: fast path %q, encoding/json %q", body, blob, got)
		}
		if !json.Valid(rest) {
			t.Fatalf("%q: rest %q not valid", body, rest)
		}
	})
}
