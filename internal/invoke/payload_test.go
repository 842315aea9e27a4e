package invoke

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Every expected message here is what Jackson 2.20's UTF8StreamJsonParser answers for
// the same bytes (its own build, run on each input while this table was written); the
// first two are also Lambda's recorded answers (test_lambda_invoke_payload_encoding_error).
func TestPayloadProblemIsJacksons(t *testing.T) {
	const src = "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); "
	const values = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
	for _, tc := range []struct{ in, want string }{
		{"n\x87r\x9e\xe9\xb5\xd7I\xee\x9bmt", "Invalid UTF-8 start byte 0x87\n at " + src + "line: 1, column: 3]"},
		{"\x99\xeb,j\x07\xa1zYh", "Unexpected character ((CTRL-CHAR, code 153)): expected a valid value " + values + "\n at " + src + "line: 1, column: 1]"},
		{"test data", "Unrecognized token 'test': was expecting " + values + "\n at " + src + "line: 1, column: 6]"},
		{"{\"a\":1", "Unexpected end-of-input: expected close marker for Object (start marker at " + src + "line: 1, column: 1])\n at " + src + "line: 1, column: 7]"},
		{"{'a':1}", "Unexpected character (''' (code 39)): was expecting double-quote to start field name\n at " + src + "line: 1, column: 2]"},
		{"{a:1}", "Unexpected character ('a' (code 97)): was expecting double-quote to start field name\n at " + src + "line: 1, column: 2]"},
		{"{\"a\" 1}", "Unexpected character ('1' (code 49)): was expecting a colon to separate field name and value\n at " + src + "line: 1, column: 6]"},
		{"{\"a\":1,}", "Unexpected character ('}' (code 125)): was expecting double-quote to start field name\n at " + src + "line: 1, column: 8]"},
		{"[1,]", "Unexpected character (']' (code 93)): expected a value\n at " + src + "line: 1, column: 4]"},
		{"[1 2]", "Unexpected character ('2' (code 50)): was expecting comma to separate Array entries\n at " + src + "line: 1, column: 4]"},
		{"{\"a\":1]", "Unexpected close marker ']': expected '}' (for Object starting at " + src + "line: 1, column: 1])\n at " + src + "line: 1, column: 7]"},
		{"]", "Unexpected close marker ']': no open Array to close\n at " + src + "line: 1, column: 1]"},
		{"01", "Invalid numeric value: Leading zeroes not allowed\n at " + src + "line: 1, column: 2]"},
		{"-", "Unexpected end-of-input in null\n at " + src + "line: 1, column: 2]"},
		{"-x", "Unexpected character ('x' (code 120)) in numeric value: expected digit (0-9) to follow minus sign, for valid numeric value\n at " + src + "line: 1, column: 2]"},
		{"+1", "Unexpected character ('+' (code 43)) in numeric value: JSON spec does not allow numbers to have plus signs: enable `JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS` to allow\n at " + src + "line: 1, column: 2]"},
		{"1.", "Unexpected character ('.' (code 46)) in numeric value: Decimal point not followed by a digit\n at " + src + "line: 1, column: 2]"},
		{"1e", "Unexpected end-of-input in null\n at " + src + "line: 1, column: 3]"},
		{"1.5x", "Unexpected character ('x' (code 120)): Expected space separating root-level values\n at " + src + "line: 1, column: 4]"},
		{"123abc", "Unexpected character ('a' (code 97)): Expected space separating root-level values\n at " + src + "line: 1, column: 4]"},
		{"\"abc", "Unexpected end-of-input in VALUE_STRING\n at " + src + "line: 1, column: 5]"},
		{"\"a\x01b\"", "Illegal unquoted character ((CTRL-CHAR, code 1)): has to be escaped using backslash to be included in string value\n at " + src + "line: 1, column: 3]"},
		{"\"\\q\"", "Unrecognized character escape 'q' (code 113)\n at " + src + "line: 1, column: 3]"},
		{"\"\\u12G4\"", "Unexpected character ('G' (code 71)): expected a hex-digit for character escape sequence\n at " + src + "line: 1, column: 6]"},
		{"\"\xc3(\"", "Invalid UTF-8 middle byte 0x28\n at " + src + "line: 1, column: 4]"},
		{"{\"ab\xc3\":1}", "Unexpected end-of-input in field name\n at " + src + "line: 1, column: 7]"},
		{"NaN", "Non-standard token 'NaN': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow\n at " + src + "line: 1, column: 4]"},
		{"-Infinity", "Non-standard token '-Infinity': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow\n at " + src + "line: 1, column: 10]"},
		{"tru", "Unrecognized token 'tru': was expecting " + values + "\n at " + src + "line: 1, column: 4]"},
		{"truex", "Unrecognized token 'truex': was expecting " + values + "\n at " + src + "line: 1, column: 6]"},
		{"null\xc3\xa9", "Invalid UTF-8 middle byte 0xc3\n at " + src + "line: 1, column: 6]"},
		{"{\"a\":1}/", "Unexpected character ('/' (code 47)): maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' not enabled for parser)\n at " + src + "line: 1, column: 8]"},
		{"\x01{}", "Illegal character ((CTRL-CHAR, code 1)): only regular white space (\\r, \\n, \\t) is allowed between tokens\n at " + src + "line: 1, column: 2]"},
		{"\x1e{}", "Illegal character ((CTRL-CHAR, code 30)): only regular white space (\\r, \\n, \\t) is allowed between tokens (consider enabling `JsonReadFeature.ALLOW_RS_CONTROL_CHAR` to allow use of Record Separators (\\u001E))\n at " + src + "line: 1, column: 2]"},
		{"[\n1,\n2\n", "Unexpected end-of-input: expected close marker for Array (start marker at " + src + "line: 1, column: 1])\n at " + src + "line: 4, column: 1]"},
		{"\xef\xbb\xbf{\"a\":}", "Unexpected character ('}' (code 125)): expected a value\n at " + src + "line: 1, column: 9]"},
		{"{\"a\":\"\xff\"}", "Invalid UTF-8 start byte 0xff\n at " + src + "line: 1, column: 8]"},
		{"{\"a\":'b'}", "Unexpected character (''' (code 39)): expected a valid value " + values + "\n at " + src + "line: 1, column: 6]"},
		{strings.Repeat("[", 1001), "Document nesting depth (1001) exceeds the maximum allowed (1000, from `StreamReadConstraints.getMaxNestingDepth()`)"},
		{strings.Repeat("1", 1001), "Number value length (1001) exceeds the maximum allowed (1000, from `StreamReadConstraints.getMaxNumberLength()`)"},
		{strings.Repeat("x", 300), "Unrecognized token '" + strings.Repeat("x", 256) + "...': was expecting " + values + "\n at " + src + "line: 1, column: 257]"},
		// What follows the first value: Jackson's own reading of it, then databind's
		// FAIL_ON_TRAILING_TOKENS (Hearth's choice; see payload.go).
		{"{\"a\":1} x", "Unrecognized token 'x': was expecting " + values + "\n at " + src + "line: 1, column: 10]"},
		{"{\"a\":1} {\"b\":2}", "Trailing token (of type START_OBJECT) found after value (bound as `com.fasterxml.jackson.databind.JsonNode`): not allowed as per `DeserializationFeature.FAIL_ON_TRAILING_TOKENS`\n at " + src + "line: 1, column: 9]"},
		{"   ", "No content to map due to end-of-input\n at " + src + "line: 1]"},
		// Payloads Jackson reads.
		{"{\"\xc3\xa9\":1}", ""},
		{"\"\\ud83d\\ude00\"", ""},
		{"{\"k\":[1,{\"z\":null}],\"v\":\"\xe2\x82\xac\"}", ""},
		{"  {\r\n \"x\" : -0.5e+3 ,\r \"y\":[ true,false , null ] }\n", ""},
		{strings.Repeat("[", 1000) + strings.Repeat("]", 1000), ""},
		{"123", ""},
		{"\"just a string\"", ""},
	} {
		if got := payloadProblem([]byte(tc.in)); got != tc.want {
			t.Errorf("payload %q:\n got  %q\n want %q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkPayloadProblem(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := 0; sb.Len() < 6<<20-200; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":12345,"name":"a name with \"quotes\" and é","tags":["x","y"],"ok":true,"v":-1.5e3}`)
	}
	sb.WriteString(`]}`)
	p := []byte(sb.String())
	b.SetBytes(int64(len(p)))
	for i := 0; i < b.N; i++ {
		if m := payloadProblem(p); m != "" {
			b.Fatal(m)
		}
	}
}

// FuzzPayloadProblem: any bytes get an answer (a message never panics its way out),
// and what Hearth lets through is JSON the runtimes can read.
func FuzzPayloadProblem(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9",true,null]}`, "n\x87r", "{\"\xc3\xa9\":1}", "[\n1,\n2\n", "\xef\xbb\xbf{}", "-I", "\"\\u12", "{\"a\xf0\x9f\":1}", "123 456"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if payloadProblem(b) == "" && !json.Valid(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))) {
			t.Fatalf("%q passes, but is not JSON", b)
		}
	})
}
