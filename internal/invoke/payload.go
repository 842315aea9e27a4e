package invoke

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// Lambda reads an Invoke payload with Jackson (2.17 or later: its locations point at
// the offending character, and the source is REDACTED), and a payload it cannot read
// is InvalidRequestContentException "Could not parse request body into json: Could
// not parse payload into json: " followed by Jackson's own message and location. The
// recorded answers (2025-11-24, test_lambda_invoke_payload_encoding_error) and the
// ones users quote are all of that form, so Hearth reads payloads the way Jackson's
// byte parser (UTF8StreamJsonParser) does, with its default features, and words each
// failure as Jackson does. What follows mirrors Jackson's methods one for one, its
// quirks included (a signed byte printed as a negative code, a continuation byte
// checked before it is read); the names in comments are Jackson's.
//
// Checked against Jackson 2.20 itself on tens of thousands of generated payloads; the
// one quirk not reproduced is its symbol table's: a field name with a 0xFF byte can
// be taken for a shorter name seen before, and then goes undecoded.
//
// Two cases are Hearth's choice, since AWS's answer to them is not recorded: content
// after the first value is refused as Jackson refuses it with FAIL_ON_TRAILING_TOKENS
// (the runtimes could not read such a payload either), and a payload of white space
// only is refused as Jackson's readValue refuses no content.

// payloadParsePrefix starts Lambda's message for a payload that is not JSON.
const payloadParsePrefix = "Could not parse request body into json: Could not parse payload into json: "

// jacksonSource is how Jackson 2.16+ describes the payload in a location.
const jacksonSource = "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); "

// validJSONValues is Jackson's _validJsonValueList with its default features.
const validJSONValues = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"

// Jackson's default StreamReadConstraints that a payload of at most 6 MB can reach.
const (
	maxJSONDepth     = 1000
	maxJSONNumberLen = 1000
	maxJSONNameLen   = 50000
)

// payloadProblem is Jackson's message for a payload it cannot read, "" when it reads
// one JSON value. An empty payload is not asked about: Lambda takes it as {}.
func payloadProblem(b []byte) (msg string) {
	r := &jsonReader{in: b, row: 1, scopes: []jsonScope{{kind: scopeRoot, index: -1}}}
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(jsonFault)
			if !ok {
				panic(v)
			}
			msg = string(f)
		}
	}()
	// Jackson's bootstrapper skips a UTF-8 byte order mark (when it has the four
	// bytes it looks at); columns still count it. It would read a payload whose first
	// bytes are zeros as UTF-16 or UTF-32, with another parser: Hearth reads those as
	// UTF-8, so its messages for them are not Jackson's.
	if len(b) >= 4 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		r.ptr = 3
	}
	t := r.nextToken()
	if t == tokNone {
		// ObjectMapper.readValue on no content; no token was read, so the location
		// has a line and no column.
		return "No content to map due to end-of-input\n at " + jacksonSource + "line: 1]"
	}
	depth := 0
	for {
		switch t {
		case tokString:
			r.finishString() // the tree reads every string's text
		case tokStartObject, tokStartArray:
			depth++
		case tokEndObject, tokEndArray:
			depth--
		}
		if depth == 0 {
			break
		}
		t = r.nextToken()
	}
	if t = r.nextToken(); t != tokNone {
		return fmt.Sprintf("Trailing token (of type %s) found after value (bound as `com.fasterxml.jackson.databind.JsonNode`): not allowed as per `DeserializationFeature.FAIL_ON_TRAILING_TOKENS`\n at %s",
			tokenNames[t], location(r.tokRow, r.tokCol))
	}
	return ""
}

// jsonFault is a message Jackson would throw, location included.
type jsonFault string

// jsonToken is Jackson's JsonToken; tokNone is its null.
type jsonToken int

const (
	tokNone jsonToken = iota
	tokStartObject
	tokEndObject
	tokStartArray
	tokEndArray
	tokFieldName
	tokString
	tokInt
	tokFloat
	tokTrue
	tokFalse
	tokNull
)

var tokenNames = [...]string{"null", "START_OBJECT", "END_OBJECT", "START_ARRAY", "END_ARRAY", "FIELD_NAME",
	"VALUE_STRING", "VALUE_NUMBER_INT", "VALUE_NUMBER_FLOAT", "VALUE_TRUE", "VALUE_FALSE", "VALUE_NULL"}

const (
	scopeRoot = iota
	scopeArray
	scopeObject
)

// jsonScope is Jackson's JsonReadContext.
type jsonScope struct {
	kind     int
	index    int // entries started, less one
	row, col int // where its opening bracket is
}

func (s *jsonScope) typeDesc() string {
	switch s.kind {
	case scopeArray:
		return "Array"
	case scopeObject:
		return "Object"
	}
	return "root"
}

// expectComma is JsonReadContext.expectComma: every entry after the first of an
// array or object follows a comma.
func (s *jsonScope) expectComma() bool {
	s.index++
	return s.kind != scopeRoot && s.index > 0
}

// jsonReader is the state of UTF8StreamJsonParser over a payload wholly in memory.
type jsonReader struct {
	in         []byte
	ptr        int // _inputPtr
	row        int // _currInputRow, 1-based
	rowStart   int // _currInputRowStart
	scopes     []jsonScope
	cur        jsonToken // _currToken
	next       jsonToken // _nextToken: a field's value, read with its name
	incomplete bool      // _tokenIncomplete: a string's text is still to read
	tokRow     int       // _tokenInputRow
	tokCol     int       // _tokenInputCol
	name       []byte
}

func location(row, col int) string {
	var b strings.Builder
	b.WriteString(jacksonSource)
	// Byte sources print the column only when it is known (JsonLocation).
	b.WriteString("line: " + strconv.Itoa(row))
	if col > 0 {
		b.WriteString(", column: " + strconv.Itoa(col))
	}
	b.WriteByte(']')
	return b.String()
}

// fail throws msg at the current location (Jackson's _reportError).
func (r *jsonReader) fail(msg string) {
	panic(jsonFault(msg + "\n at " + location(r.row, r.ptr-r.rowStart+1)))
}

// failBefore throws msg at the character just read (_currentLocationMinusOne).
func (r *jsonReader) failBefore(msg string) {
	panic(jsonFault(msg + "\n at " + location(r.row, r.ptr-r.rowStart)))
}

// failEOF is JsonEOFException: "Unexpected end-of-input" and what was being read.
func (r *jsonReader) failEOF(what string) {
	r.fail("Unexpected end-of-input" + what)
}

// failEOFInToken is _reportInvalidEOF(): the end came in the middle of a token.
func (r *jsonReader) failEOFInToken() {
	r.failEOF(" in " + tokenNames[r.cur])
}

func (r *jsonReader) top() *jsonScope { return &r.scopes[len(r.scopes)-1] }

func (r *jsonReader) atEOF() bool { return r.ptr >= len(r.in) }

// signedByte reads a byte as Java's byte: values over 0x7F are negative.
func (r *jsonReader) signedByte() int {
	b := int(int8(r.in[r.ptr]))
	r.ptr++
	return b
}

// nextByte is UTF8StreamJsonParser.nextByte.
func (r *jsonReader) nextByte() int {
	if r.atEOF() {
		r.failEOFInToken()
	}
	b := int(r.in[r.ptr])
	r.ptr++
	return b
}

func (r *jsonReader) updateLocation() {
	r.tokRow = r.row
	r.tokCol = r.ptr - r.rowStart
}

func (r *jsonReader) nextToken() jsonToken {
	if r.cur == tokFieldName { // _nextAfterName
		t := r.next
		r.next = tokNone
		switch t {
		case tokStartArray:
			r.push(scopeArray)
		case tokStartObject:
			r.push(scopeObject)
		}
		r.cur = t
		return t
	}
	if r.incomplete {
		r.finishString()
	}
	i := r.skipWSOrEnd()
	if i < 0 {
		if s := r.top(); s.kind != scopeRoot { // _handleEOF
			r.failEOF(fmt.Sprintf(": expected close marker for %s (start marker at %s)", s.typeDesc(), location(s.row, s.col)))
		}
		r.cur = tokNone
		return tokNone
	}
	switch i {
	case ']':
		r.closeScope(scopeArray, ']', '}')
		r.cur = tokEndArray
		return r.cur
	case '}':
		r.closeScope(scopeObject, '}', ']')
		r.cur = tokEndObject
		return r.cur
	}
	s := r.top()
	if s.expectComma() {
		if i != ',' {
			r.unexpectedChar(i, "was expecting comma to separate "+s.typeDesc()+" entries")
		}
		i = r.skipWS()
	}
	if s.kind != scopeObject {
		r.updateLocation()
		r.cur = r.valueNotInObject(i)
		return r.cur
	}
	r.parseName(i)
	r.cur = tokFieldName
	i = r.skipColon()
	r.updateLocation()
	var t jsonToken
	switch {
	case i == '"':
		r.incomplete = true
		t = tokString
	case i == '-':
		t = r.parseSignedNumber(true)
	case i == '+', i == '.':
		t = r.unexpectedValue(i)
	case i >= '0' && i <= '9':
		t = r.parseUnsignedNumber(i)
	case i == 'f':
		r.matchToken("false", 1)
		t = tokFalse
	case i == 'n':
		r.matchToken("null", 1)
		t = tokNull
	case i == 't':
		r.matchToken("true", 1)
		t = tokTrue
	case i == '[':
		t = tokStartArray
	case i == '{':
		t = tokStartObject
	default:
		t = r.unexpectedValue(i)
	}
	r.next = t
	return r.cur
}

// valueNotInObject is _nextTokenNotInObject: a value in an array or at the root.
func (r *jsonReader) valueNotInObject(i int) jsonToken {
	switch {
	case i == '"':
		r.incomplete = true
		return tokString
	case i == '[':
		r.push(scopeArray)
		return tokStartArray
	case i == '{':
		r.push(scopeObject)
		return tokStartObject
	case i == 't':
		r.matchToken("true", 1)
		return tokTrue
	case i == 'f':
		r.matchToken("false", 1)
		return tokFalse
	case i == 'n':
		r.matchToken("null", 1)
		return tokNull
	case i == '-':
		return r.parseSignedNumber(true)
	case i >= '0' && i <= '9':
		return r.parseUnsignedNumber(i)
	}
	return r.unexpectedValue(i)
}

// push is createChildArrayContext/createChildObjectContext, with the nesting limit.
func (r *jsonReader) push(kind int) {
	if len(r.scopes) > maxJSONDepth { // the new scope's depth is len(r.scopes)
		panic(jsonFault(fmt.Sprintf("Document nesting depth (%d) exceeds the maximum allowed (%d, from `StreamReadConstraints.getMaxNestingDepth()`)", len(r.scopes), maxJSONDepth)))
	}
	r.scopes = append(r.scopes, jsonScope{kind: kind, index: -1, row: r.tokRow, col: r.tokCol})
}

// closeScope is _closeArrayScope/_closeObjectScope.
func (r *jsonReader) closeScope(kind int, actual, expected byte) {
	r.updateLocation()
	s := r.top()
	if s.kind != kind {
		if s.kind == scopeRoot { // _reportExtraEndMarker
			desc := "Array"
			if actual == '}' {
				desc = "Object"
			}
			r.failBefore(fmt.Sprintf("Unexpected close marker '%c': no open %s to close", actual, desc))
		}
		r.failBefore(fmt.Sprintf("Unexpected close marker '%c': expected '%c' (for %s starting at %s)", actual, expected, s.typeDesc(), location(s.row, s.col)))
	}
	r.scopes = r.scopes[:len(r.scopes)-1]
}

// skipWSOrEnd is the white space before a token, -1 at the end of the payload.
func (r *jsonReader) skipWSOrEnd() int {
	for !r.atEOF() {
		i := int(r.in[r.ptr])
		r.ptr++
		if i > ' ' {
			if i == '/' {
				r.comment()
			}
			return i
		}
		r.space(i)
	}
	return -1
}

// skipWS is the white space after a comma: the payload must go on.
func (r *jsonReader) skipWS() int {
	if i := r.skipWSOrEnd(); i >= 0 {
		return i
	}
	panic(jsonFault("Unexpected end-of-input within/between " + r.top().typeDesc() + " entries\n at " + location(r.row, r.ptr-r.rowStart+1)))
}

// space takes one byte at or below ' ' between tokens.
func (r *jsonReader) space(i int) {
	switch i {
	case ' ', '\t':
	case '\n':
		r.row++
		r.rowStart = r.ptr
	case '\r': // _skipCR
		if !r.atEOF() && r.in[r.ptr] == '\n' {
			r.ptr++
		}
		r.row++
		r.rowStart = r.ptr
	default: // _throwInvalidSpace
		msg := "Illegal character (" + charDesc(i) + "): only regular white space (\\r, \\n, \\t) is allowed between tokens"
		if i == 0x1E {
			msg += " (consider enabling `JsonReadFeature.ALLOW_RS_CONTROL_CHAR` to allow use of Record Separators (\\u001E))"
		}
		r.fail(msg)
	}
}

// comment: Jackson reads no comments unless told to ('#' is not one either, and
// comes back as a character).
func (r *jsonReader) comment() {
	r.unexpectedChar('/', "maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' not enabled for parser)")
}

// skipColon is _skipColon2: the colon after a field name and the white space around
// it; it returns the first byte of the value.
func (r *jsonReader) skipColon() int {
	gotColon := false
	for !r.atEOF() {
		i := int(r.in[r.ptr])
		r.ptr++
		if i > ' ' {
			if i == '/' {
				r.comment()
			}
			if gotColon {
				return i
			}
			if i != ':' {
				r.unexpectedChar(i, "was expecting a colon to separate field name and value")
			}
			gotColon = true
			continue
		}
		r.space(i)
	}
	r.failEOF(" within/between " + r.top().typeDesc() + " entries")
	return -1
}

// parseName reads a field name whose first byte, i, has been read.
func (r *jsonReader) parseName(i int) {
	if i != '"' { // _handleOddName
		c := uint16(r.decodeCharForError(i))
		r.unexpectedChar(int(c), "was expecting double-quote to start field name")
	}
	if r.atEOF() { // slowParseName
		r.failEOF(": was expecting closing '\"' for name")
	}
	r.name = r.name[:0]
	ch := int(r.in[r.ptr])
	r.ptr++
	for ch != '"' { // parseEscapedName
		switch {
		case ch < ' ':
			r.unquotedSpace(ch, "name")
		case ch == '\\':
			c := r.decodeEscaped()
			// The escape's character goes into the name's bytes as UTF-8.
			switch {
			case c < 0x80:
				r.name = append(r.name, byte(c))
			case c < 0x800:
				r.name = append(r.name, byte(0xC0|c>>6), byte(0x80|c&0x3F))
			default:
				r.name = append(r.name, byte(0xE0|c>>12), byte(0x80|(c>>6)&0x3F), byte(0x80|c&0x3F))
			}
		default:
			r.name = append(r.name, byte(ch))
		}
		if r.atEOF() {
			r.failEOF(" in field name")
		}
		ch = int(r.in[r.ptr])
		r.ptr++
	}
	r.addName(r.name)
}

// addName decodes a name's UTF-8 once its closing quote is read, as Jackson does
// from the name's bytes packed four to an int: a continuation byte is tested on its
// own but printed with the bytes before it in its int (sign-extended).
func (r *jsonReader) addName(b []byte) {
	if len(b) > maxJSONNameLen {
		panic(jsonFault(fmt.Sprintf("Name length (%d) exceeds the maximum allowed (%d, from `StreamReadConstraints.getMaxNameLength()`)", len(b), maxJSONNameLen)))
	}
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return
	}
	quadAt := func(ix int) int32 { // the int holding byte ix, shifted so byte ix is lowest
		var q uint32
		for k := ix &^ 3; k < ix&^3+4; k++ {
			q <<= 8
			if k < len(b) {
				q |= uint32(b[k])
			}
		}
		return int32(q) >> ((3 - ix&3) * 8)
	}
	for ix := 0; ix < len(b); {
		ch := int(b[ix])
		ix++
		if ch <= 127 {
			continue
		}
		var needed int
		switch {
		case ch&0xE0 == 0xC0:
			needed = 1
		case ch&0xF0 == 0xE0:
			needed = 2
		case ch&0xF8 == 0xF0:
			needed = 3
		default:
			r.fail(fmt.Sprintf("Invalid UTF-8 start byte 0x%x", ch))
		}
		if ix+needed > len(b) {
			r.failEOF(" in field name")
		}
		for k := 0; k < needed; k++ {
			c2 := quadAt(ix)
			if k == 2 {
				c2 &= 0xFF
			}
			ix++
			if c2&0xC0 != 0x80 {
				r.fail(fmt.Sprintf("Invalid UTF-8 middle byte 0x%x", uint32(c2)))
			}
		}
	}
}

// finishString reads the rest of a string value (_finishAndReturnString).
func (r *jsonReader) finishString() {
	r.incomplete = false
	for {
		// The common bytes first, without the checks below (payloads reach 6 MB).
		in, p := r.in, r.ptr
		for p < len(in) && plainStringByte[in[p]] {
			p++
		}
		r.ptr = p
		if r.atEOF() {
			r.failEOFInToken()
		}
		c := int(r.in[r.ptr])
		r.ptr++
		if c == '"' {
			return
		}
		switch {
		case c == '\\':
			r.decodeEscaped()
		case c&0xE0 == 0xC0:
			r.continuation()
		case c&0xF0 == 0xE0:
			r.continuation()
			r.continuation()
		case c&0xF8 == 0xF0:
			r.continuation()
			r.continuation()
			r.continuation()
		case c < ' ':
			r.unquotedSpace(c, "string value")
		default: // _reportInvalidChar
			r.fail(fmt.Sprintf("Invalid UTF-8 start byte 0x%x", c))
		}
	}
}

// plainStringByte marks the bytes a string value takes as they are: ASCII but the
// controls, the quote and the backslash.
var plainStringByte = func() (t [256]bool) {
	for c := ' '; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// continuation reads one continuation byte of a character in a string value.
func (r *jsonReader) continuation() {
	if r.atEOF() {
		r.failEOFInToken()
	}
	d := int(r.in[r.ptr])
	r.ptr++
	if d&0xC0 != 0x80 {
		r.fail(fmt.Sprintf("Invalid UTF-8 middle byte 0x%x", d))
	}
}

// unquotedSpace is _throwUnquotedSpace: a control character inside quotes.
func (r *jsonReader) unquotedSpace(c int, where string) {
	r.failBefore("Illegal unquoted character (" + charDesc(c) + "): has to be escaped using backslash to be included in " + where)
}

// decodeEscaped reads the escape after a backslash and returns its character.
func (r *jsonReader) decodeEscaped() int {
	if r.atEOF() {
		r.failEOF(" in character escape sequence")
	}
	c := r.signedByte()
	switch c {
	case 'b':
		return '\b'
	case 't':
		return '\t'
	case 'n':
		return '\n'
	case 'f':
		return '\f'
	case 'r':
		return '\r'
	case '"', '/', '\\':
		return c
	case 'u':
	default:
		ch := uint16(r.decodeCharForError(c))
		r.failBefore("Unrecognized character escape " + charDesc(int(ch)))
	}
	value := 0
	for k := 0; k < 4; k++ {
		if r.atEOF() {
			r.failEOF(" in character escape sequence")
		}
		ch := r.signedByte()
		d := hexValue(ch & 0xFF)
		if d < 0 {
			r.unexpectedChar(ch&0xFF, "expected a hex-digit for character escape sequence")
		}
		value = value<<4 | d
	}
	return value
}

func hexValue(c int) int {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return -1
}

// decodeCharForError decodes the character starting with firstByte, for a message.
func (r *jsonReader) decodeCharForError(firstByte int) int {
	c := firstByte & 0xFF
	if c <= 0x7F {
		return c
	}
	var needed int
	switch {
	case c&0xE0 == 0xC0:
		c &= 0x1F
		needed = 1
	case c&0xF0 == 0xE0:
		c &= 0x0F
		needed = 2
	case c&0xF8 == 0xF0:
		c &= 0x07
		needed = 3
	default:
		r.fail(fmt.Sprintf("Invalid UTF-8 start byte 0x%x", c&0xFF))
	}
	for k := 0; k < needed; k++ {
		d := r.nextByte()
		if d&0xC0 != 0x80 {
			r.fail(fmt.Sprintf("Invalid UTF-8 middle byte 0x%x", d&0xFF))
		}
		c = c<<6 | d&0x3F
	}
	return c
}

// matchToken reads the rest of true, false, null (or NaN, Infinity): the bytes
// must follow, and no letter or digit after them (_matchToken2, _checkMatchEnd).
func (r *jsonReader) matchToken(token string, i int) {
	for ; i < len(token); i++ {
		if r.atEOF() || int(r.in[r.ptr]) != int(token[i]) {
			r.invalidToken(token[:i])
		}
		r.ptr++
	}
	if r.atEOF() {
		return
	}
	ch := int(r.in[r.ptr])
	if ch >= '0' && ch != ']' && ch != '}' {
		// The byte is not consumed, yet decoding a multi-byte character reads the
		// next byte from where it stands: its lead byte again.
		c := uint16(r.decodeCharForError(ch))
		if javaIdentifierPart(c) {
			r.invalidToken(token[:i])
		}
	}
}

// invalidToken is _reportInvalidToken: the token so far and the letters that
// follow it, as Jackson guesses the token the caller meant.
func (r *jsonReader) invalidToken(matched string) {
	units := utf16.Encode([]rune(matched))
	for !r.atEOF() {
		c := uint16(r.decodeCharForError(r.signedByte()))
		if !javaIdentifierPart(c) {
			break
		}
		units = append(units, c)
		if len(units) >= 256 { // ErrorReportConfiguration's maxErrorTokenLength
			units = append(units, '.', '.', '.')
			break
		}
	}
	r.fail("Unrecognized token '" + string(utf16.Decode(units)) + "': was expecting " + validJSONValues)
}

// unexpectedValue is _handleUnexpectedValue: what cannot start a value.
func (r *jsonReader) unexpectedValue(c int) jsonToken {
	switch c {
	case ']', ',', '}':
		if c != ']' || r.top().kind == scopeArray {
			r.unexpectedChar(c, "expected a value")
		}
	case 'N':
		r.matchToken("NaN", 1)
		r.fail("Non-standard token 'NaN': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow")
	case 'I':
		r.matchToken("Infinity", 1)
		r.fail("Non-standard token 'Infinity': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow")
	case '+':
		if r.atEOF() {
			r.failEOF(" in a Number value")
		}
		ch := int(r.in[r.ptr])
		r.ptr++
		return r.invalidNumberStart(ch, false, true)
	}
	if javaIdentifierStart(uint16(c)) {
		r.invalidToken(string(rune(uint16(c))))
	}
	r.unexpectedChar(c, "expected a valid value "+validJSONValues)
	return tokNone
}

// invalidNumberStart is _handleInvalidNumberStart: a sign not followed by a digit.
func (r *jsonReader) invalidNumberStart(ch int, neg, hasSign bool) jsonToken {
infinity:
	for ch == 'I' {
		if r.atEOF() {
			r.failEOF(" in a Number value")
		}
		ch = r.signedByte()
		var match string
		switch {
		case ch == 'N' && neg:
			match = "-INF"
		case ch == 'N':
			match = "+INF"
		case ch == 'n' && neg:
			match = "-Infinity"
		case ch == 'n':
			match = "+Infinity"
		default:
			break infinity
		}
		r.matchToken(match, 3)
		r.fail("Non-standard token '" + match + "': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow")
	}
	if hasSign && !neg {
		r.unexpectedNumberChar('+', "JSON spec does not allow numbers to have plus signs: enable `JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS` to allow")
	}
	if neg {
		r.unexpectedNumberChar(ch, "expected digit (0-9) to follow minus sign, for valid numeric value")
	}
	r.unexpectedNumberChar(ch, "expected digit (0-9) for valid numeric value")
	return tokNone
}

func (r *jsonReader) parseSignedNumber(neg bool) jsonToken {
	if r.atEOF() {
		r.failEOFInToken()
	}
	c := int(r.in[r.ptr])
	r.ptr++
	switch {
	case c == '.':
		return r.unexpectedValue('.') // ALLOW_LEADING_DECIMAL_POINT_FOR_NUMBERS is off
	case c == '0':
		r.noLeadingZeroes()
	case c < '0' || c > '9':
		return r.invalidNumberStart(c, neg, true)
	}
	return r.numberRest()
}

func (r *jsonReader) parseUnsignedNumber(c int) jsonToken {
	if c == '0' {
		r.noLeadingZeroes()
	}
	return r.numberRest()
}

// numberRest reads a number after its first digit.
func (r *jsonReader) numberRest() jsonToken {
	intLen := 1
	for !r.atEOF() {
		c := int(r.in[r.ptr])
		r.ptr++
		if c >= '0' && c <= '9' {
			intLen++
			continue
		}
		if c == '.' || c|0x20 == 'e' {
			return r.parseFloat(c, intLen)
		}
		r.ptr--
		if r.top().kind == scopeRoot {
			r.verifyRootSpace(c)
		}
		return r.numberDone(tokInt, intLen)
	}
	return r.numberDone(tokInt, intLen)
}

func (r *jsonReader) numberDone(t jsonToken, length int) jsonToken {
	if length > maxJSONNumberLen {
		panic(jsonFault(fmt.Sprintf("Number value length (%d) exceeds the maximum allowed (%d, from `StreamReadConstraints.getMaxNumberLength()`)", length, maxJSONNumberLen)))
	}
	return t
}

// noLeadingZeroes is _verifyNoLeadingZeroes after a first '0'.
func (r *jsonReader) noLeadingZeroes() {
	if !r.atEOF() && r.in[r.ptr] >= '0' && r.in[r.ptr] <= '9' {
		r.fail("Invalid numeric value: Leading zeroes not allowed")
	}
}

func (r *jsonReader) parseFloat(c, intLen int) jsonToken {
	fractLen, expLen := 0, 0
	eof := false
	if c == '.' {
		for {
			if r.atEOF() {
				eof = true
				break
			}
			c = int(r.in[r.ptr])
			r.ptr++
			if c < '0' || c > '9' {
				break
			}
			fractLen++
		}
		if fractLen == 0 {
			r.unexpectedNumberChar(c, "Decimal point not followed by a digit")
		}
	}
	if c|0x20 == 'e' {
		if r.atEOF() {
			r.failEOFInToken()
		}
		c = int(r.in[r.ptr])
		r.ptr++
		if c == '-' || c == '+' {
			if r.atEOF() {
				r.failEOFInToken()
			}
			c = int(r.in[r.ptr])
			r.ptr++
		}
		for c >= '0' && c <= '9' {
			expLen++
			if r.atEOF() {
				eof = true
				break
			}
			c = int(r.in[r.ptr])
			r.ptr++
		}
		if expLen == 0 {
			r.unexpectedNumberChar(c, "Exponent indicator not followed by a digit")
		}
	}
	if !eof {
		r.ptr--
		if r.top().kind == scopeRoot {
			r.verifyRootSpace(c)
		}
	}
	return r.numberDone(tokFloat, intLen+fractLen+expLen)
}

// verifyRootSpace: a number at the root must be followed by white space or nothing.
func (r *jsonReader) verifyRootSpace(ch int) {
	r.ptr++
	switch ch {
	case ' ', '\t':
	case '\r':
		r.ptr--
	case '\n':
		r.row++
		r.rowStart = r.ptr
	default:
		r.unexpectedChar(ch, "Expected space separating root-level values")
	}
}

func (r *jsonReader) unexpectedChar(ch int, comment string) {
	if ch < 0 {
		r.failEOFInToken()
	}
	r.failBefore("Unexpected character (" + charDesc(ch) + "): " + comment)
}

func (r *jsonReader) unexpectedNumberChar(ch int, comment string) {
	r.failBefore("Unexpected character (" + charDesc(ch) + ") in numeric value: " + comment)
}

// charDesc is Jackson's _getCharDesc: the character as Java's char, and its code
// as given (a signed byte stays negative).
func charDesc(ch int) string {
	c := uint16(ch)
	if c <= 0x1F || (c >= 0x7F && c <= 0x9F) { // Character.isISOControl
		return "(CTRL-CHAR, code " + strconv.Itoa(ch) + ")"
	}
	s := string(utf16.Decode([]uint16{c}))
	if ch > 255 {
		return fmt.Sprintf("'%s' (code %d / 0x%x)", s, ch, ch)
	}
	return fmt.Sprintf("'%s' (code %d)", s, ch)
}

// javaIdentifierStart is Java's Character.isJavaIdentifierStart(char).
func javaIdentifierStart(c uint16) bool {
	r := rune(c)
	return unicode.IsLetter(r) || unicode.In(r, unicode.Nl, unicode.Sc, unicode.Pc)
}

// javaIdentifierPart is Java's Character.isJavaIdentifierPart(char).
func javaIdentifierPart(c uint16) bool {
	r := rune(c)
	if javaIdentifierStart(c) || unicode.In(r, unicode.Nd, unicode.Mn, unicode.Mc, unicode.Cf) {
		return true
	}
	// Character.isIdentifierIgnorable's controls.
	return r <= 0x08 || (r >= 0x0E && r <= 0x1B) || (r >= 0x7F && r <= 0x9F)
}
