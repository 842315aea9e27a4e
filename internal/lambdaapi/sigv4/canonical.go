package sigv4

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// requestTarget returns the path and raw query exactly as the client sent them. The
// request line (RequestURI) is preferred over r.URL: r.URL.EscapedPath re-escapes
// paths Go considers badly encoded (raw UTF-8, say), and a router may have rewritten
// r.URL, while the client signed what it sent.
func requestTarget(r *http.Request) (path, query string) {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		path, query, _ = strings.Cut(u, "?")
		return path, query
	}
	if r.URL == nil {
		return "/", ""
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}

// queryPair is one decoded query parameter.
type queryPair struct{ key, value string }

// parseQuery decodes a raw query as Go's url.ParseQuery does ('+' is a space, empty
// pairs are skipped; aws-sdk-go-v2 signs from that form), but keeps ';' as data as
// botocore and AWS do. ok is false if any pair had a bad escape.
func parseQuery(raw string) (pairs []queryPair, ok bool) {
	ok = true
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			ok = false
			continue
		}
		pairs = append(pairs, queryPair{k, v})
	}
	return pairs, ok
}

// queryValue is the value of the query's first pair named key ("" when none).
func queryValue(pairs []queryPair, key string) string {
	for _, p := range pairs {
		if p.key == key {
			return p.value
		}
	}
	return ""
}

func hasQueryKey(pairs []queryPair, key string) bool {
	for _, p := range pairs {
		if p.key == key {
			return true
		}
	}
	return false
}

// canonicalRequest builds the SigV4 canonical request.
func canonicalRequest(r *http.Request, path string, pairs []queryPair, a *authParams, payloadHash string) []byte {
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, '\n')

	// Non-S3 services encode the already-encoded path once more, keeping '/'. Both
	// aws-sdk-go-v2 (httpbinding.EscapePath of URL.EscapedPath) and botocore
	// (quote(path, safe='/~') of the quoted path) do exactly this.
	if path == "" {
		path = "/"
	}
	b = appendURIEncode(b, path, true)
	b = append(b, '\n')

	// Query: every pair but the signature, each part RFC 3986-encoded, sorted after
	// encoding (the order of encoded and decoded forms can differ).
	enc := make([]queryPair, 0, len(pairs))
	for _, p := range pairs {
		if a.presigned && p.key == "X-Amz-Signature" {
			continue
		}
		enc = append(enc, queryPair{uriEncode(p.key), uriEncode(p.value)})
	}
	slices.SortFunc(enc, func(x, y queryPair) int {
		if c := strings.Compare(x.key, y.key); c != 0 {
			return c
		}
		return strings.Compare(x.value, y.value)
	})
	for i, p := range enc {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.key...)
		b = append(b, '=')
		b = append(b, p.value...)
	}
	b = append(b, '\n')

	for rest := a.signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		if name == "host" {
			b = appendTrimmed(b, host(r))
			b = append(b, '\n')
			continue
		}
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTrimmed(b, v)
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, a.signedHeaders...)
	b = append(b, '\n')
	return append(b, payloadHash...)
}

// host is the request's Host header, which Go's server moves out of r.Header.
func host(r *http.Request) string {
	if r.Host == "" && r.URL != nil {
		return r.URL.Host
	}
	return r.Host
}

// headerValues returns a signed header's values. Go's server moves Transfer-Encoding
// out of r.Header, and a request built in Go keeps Content-Length in r.ContentLength,
// so those come from the request fields when the header is absent.
func headerValues(r *http.Request, name string) []string {
	// Look name up by its canonical form, built on the stack: CanonicalMIMEHeaderKey
	// allocates for every lower-case name, and this runs for every signed header.
	var buf [64]byte
	var v []string
	if len(name) <= len(buf) {
		k := buf[:len(name)]
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			k[i] = c
			upper = c == '-'
		}
		v = r.Header[string(k)]
	} else {
		v = r.Header.Values(name)
	}
	if len(v) > 0 {
		return v
	}
	switch name {
	case "content-length":
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		return r.TransferEncoding
	}
	return nil
}

// appendTrimmed appends v trimmed, with runs of spaces collapsed to one, as SigV4's
// Trimall (and aws-sdk-go-v2's StripExcessSpaces) do.
func appendTrimmed(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// validHeaderName reports whether s is a lower-case HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || !isTokenChar(c) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func uriEncode(s string) string {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return string(appendURIEncode(make([]byte, 0, len(s)+16), s, false))
		}
	}
	return s
}

// appendURIEncode percent-encodes every byte outside RFC 3986's unreserved set, with
// upper-case hex, keeping '/' if keepSlash.
func appendURIEncode(b []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return b
}

func unreserved(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// missingSignedHeader returns the first signed header r does not carry, or "". The
// headers Go's server moves out of r.Header (Host, Transfer-Encoding, and
// Content-Length, Connection and Trailer in some framings) are never missing here:
// canonicalRequest reads what it can of them, and the signature decides.
func missingSignedHeader(r *http.Request, signedHeaders string) string {
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		switch name {
		case "host", "content-length", "transfer-encoding", "connection", "trailer":
			continue
		}
		if headerValues(r, name) == nil {
			return name
		}
	}
	return ""
}
