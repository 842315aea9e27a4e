package filter

import (
	"encoding/json"
	"testing"
)

func event(t *testing.T, src string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The cases follow Lambda's event filtering documentation (its comparison operator
// table), applied to SQS records.
func TestMatch(t *testing.T) {
	rec := `{"messageId":"m1","body":{"RequestCode":"BBBB","Price":15,"Weather":"Rainy","Location":"New York","Name":"Alice","Tags":["a","b"],"Nested":{"Depth":2,"Flag":true},"Nothing":null,"Empty":""},
	  "attributes":{"ApproximateReceiveCount":"1","SenderId":"AIDAEXAMPLE"},
	  "messageAttributes":{"Color":{"stringValue":"red","dataType":"String"}}}`
	ev := event(t, rec)
	cases := []struct {
		name    string
		pattern string
		want    bool
	}{
		{"null", `{"body":{"Nothing":[null]}}`, true},
		{"empty string", `{"body":{"Empty":[""]}}`, true},
		{"equals", `{"body":{"Name":["Alice"]}}`, true},
		{"equals miss", `{"body":{"Name":["Bob"]}}`, false},
		{"or within a key", `{"body":{"Name":["Bob","Alice"]}}`, true},
		{"equals ignore case", `{"body":{"Name":[{"equals-ignore-case":"alice"}]}}`, true},
		{"and across keys", `{"body":{"Location":["New York"],"Weather":["Rainy"]}}`, true},
		{"and across keys miss", `{"body":{"Location":["New York"],"Weather":["Sunny"]}}`, false},
		{"not", `{"body":{"Weather":[{"anything-but":["Raining"]}]}}`, true},
		{"not miss", `{"body":{"Weather":[{"anything-but":["Rainy"]}]}}`, false},
		{"anything-but scalar", `{"body":{"Weather":[{"anything-but":"Sunny"}]}}`, true},
		{"anything-but prefix", `{"body":{"Weather":[{"anything-but":{"prefix":"Rai"}}]}}`, false},
		{"numeric equals", `{"body":{"Price":[{"numeric":["=",15]}]}}`, true},
		{"numeric literal", `{"body":{"Price":[15]}}`, true},
		{"numeric range", `{"body":{"Price":[{"numeric":[">",10,"<=",20]}]}}`, true},
		{"numeric range miss", `{"body":{"Price":[{"numeric":[">",15]}]}}`, false},
		{"numeric on a string", `{"body":{"Name":[{"numeric":[">",0]}]}}`, false},
		{"exists", `{"body":{"Weather":[{"exists":true}]}}`, true},
		{"exists on a missing key", `{"body":{"Snow":[{"exists":true}]}}`, false},
		{"does not exist", `{"body":{"Snow":[{"exists":false}]}}`, true},
		{"does not exist miss", `{"body":{"Weather":[{"exists":false}]}}`, false},
		{"begins with", `{"body":{"Location":[{"prefix":"New"}]}}`, true},
		{"ends with", `{"body":{"Location":[{"suffix":"York"}]}}`, true},
		{"ends with miss", `{"body":{"Location":[{"suffix":"Jersey"}]}}`, false},
		{"wildcard", `{"body":{"Location":[{"wildcard":"N*Y*k"}]}}`, true},
		{"array value: any element", `{"body":{"Tags":["b"]}}`, true},
		{"array value miss", `{"body":{"Tags":["c"]}}`, false},
		{"nested", `{"body":{"Nested":{"Depth":[2],"Flag":[true]}}}`, true},
		{"nested miss", `{"body":{"Nested":{"Depth":[3]}}}`, false},
		{"nested on a scalar", `{"body":{"Name":{"First":["A"]}}}`, false},
		{"or", `{"$or":[{"body":{"Name":["Bob"]}},{"body":{"Price":[{"numeric":["<",20]}]}}]}`, true},
		{"or miss", `{"$or":[{"body":{"Name":["Bob"]}},{"body":{"Price":[{"numeric":[">",20]}]}}]}`, false},
		{"or nested in a key", `{"body":{"$or":[{"Name":["Bob"]},{"Weather":["Rainy"]}]}}`, true},
		{"attributes", `{"attributes":{"SenderId":[{"prefix":"AIDA"}]}}`, true},
		{"message attributes", `{"messageAttributes":{"Color":{"stringValue":["red"]}}}`, true},
		{"message attributes miss", `{"messageAttributes":{"Size":{"stringValue":["L"]}}}`, false},
		{"top-level and body", `{"messageId":["m1"],"body":{"Name":["Alice"]}}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.pattern)
			if err != nil {
				t.Fatalf("Parse(%s): %v", c.pattern, err)
			}
			if got := p.Match(ev); got != c.want {
				t.Errorf("Match(%s) = %v, want %v", c.pattern, got, c.want)
			}
		})
	}
}

// A body that is not JSON is matched as a plain string.
func TestMatchPlainBody(t *testing.T) {
	ev := map[string]any{"body": "this is a test string"}
	for pattern, want := range map[string]bool{
		`{"body":["this is a test string"]}`:   true,
		`{"body":[{"prefix":"this is"}]}`:      true,
		`{"body":{"testItem":["test24"]}}`:     false,
		`{"body":["something else entirely"]}`: false,
	} {
		p, err := Parse(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(ev); got != want {
			t.Errorf("Match(%s) = %v, want %v", pattern, got, want)
		}
	}
}

// Lambda answers each of these "Invalid filter pattern definition."
func TestParseInvalid(t *testing.T) {
	for _, src := range []string{
		``, `null`, `"simple string"`, `[]`, `{}`, `{"eventSource":"aws:sqs"}`, `{"eventSource":[]}`,
		`{"body":{"a":[{"numeric":[">"]}]}}`, `{"body":{"a":[{"numeric":["~",1]}]}}`, `{"body":{"a":[{"prefix":1}]}}`,
		`{"body":{"a":[{"exists":"yes"}]}}`, `{"body":{"a":[{"unknown-op":"x"}]}}`, `{"$or":[{"a":["b"]}]}`,
		`{"a":["b"]} trailing`, `{"body":{"a":[{"anything-but":[]}]}}`, `{"body":{"a":[[1]]}}`,
	} {
		if _, err := Parse(src); err == nil {
			t.Errorf("Parse(%q) accepted an invalid pattern", src)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"body":{"a":[{"numeric":[">",1]}]}}`)
	f.Add(`{"$or":[{"a":["b"]},{"c":[{"exists":false}]}]}`)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			return
		}
		p.Match(map[string]any{"a": "b", "body": map[string]any{"a": 2.0}})
	})
}
