// Package sigv4 verifies AWS Signature Version 4 on requests to Hearth's Lambda API,
// the way AWS does for a non-S3 service: the canonical URI is the path as sent,
// URI-encoded once more. It accepts both forms the AWS clients use, the Authorization
// header and the presigned query string, and what aws-sdk-go-v2 and botocore (the AWS
// CLI) actually send, including function ARNs escaped in the path.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The sentinels. Each error Verify returns wraps exactly one of them, followed by
// AWS's message for the failure; their text is the AWS error type they stand for.
var (
	// ErrMissingAuthenticationToken: neither an Authorization header nor a
	// presigned X-Amz-Signature query parameter.
	ErrMissingAuthenticationToken = errors.New("MissingAuthenticationTokenException")
	// ErrIncompleteSignature: the signature is malformed or lacks a part.
	ErrIncompleteSignature = errors.New("IncompleteSignatureException")
	// ErrUnrecognizedClient: the access key id is unknown.
	ErrUnrecognizedClient = errors.New("UnrecognizedClientException")
	// ErrInvalidSignature: the signature does not match, is scoped to another
	// region, service or day, or is outside its time window.
	ErrInvalidSignature = errors.New("InvalidSignatureException")
	// ErrExpiredToken: a genuine session token past its expiry.
	ErrExpiredToken = errors.New("ExpiredTokenException")
)

const (
	algorithm        = "AWS4-HMAC-SHA256"
	timeFormat       = "20060102T150405Z"
	terminator       = "aws4_request"
	unsignedPayload  = "UNSIGNED-PAYLOAD"
	defaultMaxSkew   = 15 * time.Minute
	maxAuthLen       = 8 << 10
	maxSignedHeaders = 64
	maxExpires       = 7 * 24 * 60 * 60 // seconds; AWS's limit for presigned URLs
	maxCachedKeys    = 256
)

// Verifier checks AWS Signature Version 4 on incoming requests. Verify is safe for
// concurrent use; set the fields before the first call, and do not copy a Verifier
// after it (it holds the signing-key cache).
type Verifier struct {
	Region  string                                                     // e.g. "us-east-1"; a signature scoped to another region is rejected
	Service string                                                     // "lambda"; empty means "lambda"
	Lookup  func(accessKeyID string) (secretAccessKey string, ok bool) // nil means no key is known
	Now     func() time.Time                                           // nil = time.Now
	MaxSkew time.Duration                                              // 0 = 15 minutes
	// Session checks temporary credentials: a request that carries a session token
	// (X-Amz-Security-Token, as a header or a presigned URL's parameter) is checked
	// with it instead of Lookup. Its error wraps ErrUnrecognizedClient or
	// ErrExpiredToken. nil refuses every session token.
	Session func(accessKeyID, sessionToken string) (secretAccessKey string, err error)

	keys keyCache
}

// authParams are the parts of a signature, from either the header or the query.
type authParams struct {
	presigned     bool
	accessKeyID   string
	scopeDate     string // YYYYMMDD
	region        string
	service       string
	signedHeaders string
	signature     string
	amzDate       string // the request time, in timeFormat
	time          time.Time
	expires       int // presigned only, seconds; 0 when absent
}

// Verify checks r (whose body has already been read into body) and returns the access key id
// that signed it. It must not read r.Body. It is VerifyHeaders followed by VerifyBody.
func (v *Verifier) Verify(r *http.Request, body []byte) (accessKeyID string, err error) {
	sig, err := v.VerifyHeaders(r)
	if err != nil {
		return "", err
	}
	return sig.VerifyBody(body)
}

// Signature is a request whose signature passed every check that does not need its
// body: the authentication mechanism parses, the time and scope are valid, the
// access key is ours and every signed header is in the request. When the client
// declared the payload's hash (X-Amz-Content-Sha256, or a presigned URL without
// one), the signature itself has been checked too. A server calls VerifyHeaders
// before reading the body, so a request from a stranger costs no body buffer.
type Signature struct {
	r       *http.Request
	a       *authParams
	path    string
	pairs   []queryPair
	key     []byte
	scope   string
	claimed string // the declared payload hash; "" when none
	token   string // the session token; "" for a long-term key
	// matched says the signature matched already, with the payload hash it names
	// (UNSIGNED-PAYLOAD or a declared hash the body must still have).
	matched bool
}

// VerifyHeaders checks everything about r's signature that does not need its body,
// and never reads r.Body. Its errors wrap the same sentinels as Verify's.
func (v *Verifier) VerifyHeaders(r *http.Request) (*Signature, error) {
	path, query := requestTarget(r)
	pairs, queryOK := parseQuery(query)

	var a *authParams
	var err error
	authz := r.Header["Authorization"]
	// An empty header is what some clients send with no credentials at all.
	hasAuthz := len(authz) > 1 || (len(authz) == 1 && authz[0] != "")
	presigned := hasQueryKey(pairs, "X-Amz-Signature")
	switch {
	case hasAuthz && presigned:
		return nil, fmt.Errorf("%w: Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified", ErrIncompleteSignature)
	case hasAuthz:
		a, err = parseAuthorization(authz, r.Header)
	case presigned:
		a, err = parseQueryAuth(pairs)
	default:
		return nil, fmt.Errorf("%w: Missing Authentication Token", ErrMissingAuthenticationToken)
	}
	if err != nil {
		return nil, err
	}
	if !queryOK {
		// Invalid escapes: no client could have signed what we would canonicalize.
		return nil, fmt.Errorf("%w: the query string is not validly percent-encoded", ErrInvalidSignature)
	}
	if err := v.checkScope(a); err != nil {
		return nil, err
	}

	token := r.Header.Get("X-Amz-Security-Token")
	if a.presigned {
		token = queryValue(pairs, "X-Amz-Security-Token")
	}
	var secret string
	ok := false
	switch {
	case token != "" && v.Session != nil:
		var err error
		if secret, err = v.Session(a.accessKeyID, token); err != nil {
			return nil, err
		}
		ok = true
	case token == "" && v.Lookup != nil:
		// A long-term key with a session token is refused, as AWS refuses it.
		secret, ok = v.Lookup(a.accessKeyID)
	}
	if !ok {
		return nil, fmt.Errorf("%w: The security token included in the request is invalid.", ErrUnrecognizedClient)
	}
	if name := missingSignedHeader(r, a.signedHeaders); name != "" {
		return nil, fmt.Errorf("%w: The request signature we calculated does not match the signature you provided: the signed header '%s' is not in the request.", ErrInvalidSignature, name)
	}

	s := &Signature{r: r, a: a, path: path, pairs: pairs, token: token}
	s.scope = a.scopeDate + "/" + a.region + "/" + a.service + "/" + terminator
	s.key = v.keys.get(secret, a.scopeDate, a.region, a.service)
	claimed, declared := declaredPayloadHash(r, pairs, a.presigned)
	switch {
	case declared:
		// The client signed the hash it declared, so the signature can be checked now;
		// the body only has to have that hash.
		if claimed != unsignedPayload && !isSHA256Hex(claimed) {
			return nil, errPayloadHash
		}
		if !s.matches(claimed) {
			return nil, errSignatureMismatch
		}
		s.claimed, s.matched = claimed, true
	case a.presigned:
		// aws-sdk-go-v2 and botocore presign with UNSIGNED-PAYLOAD by default; some
		// callers (as for STS) presign with the body's hash instead, checked later.
		s.matched = s.matches(unsignedPayload)
		if s.matched {
			s.claimed = unsignedPayload
		}
	}
	return s, nil
}

// AccessKeyID is the key that signed the request.
func (s *Signature) AccessKeyID() string { return s.a.accessKeyID }

// SessionToken is the session token the request carried ("" for a long-term key).
func (s *Signature) SessionToken() string { return s.token }

// VerifyBody finishes the check with the request's body and returns the access key
// id that signed it.
func (s *Signature) VerifyBody(body []byte) (accessKeyID string, err error) {
	if s.matched && s.claimed == unsignedPayload {
		return s.a.accessKeyID, nil
	}
	actual := emptySHA256
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		actual = hex.EncodeToString(sum[:])
	}
	if s.matched {
		// The declared hash is what was signed, so it must be the body's, or a signed
		// request could carry any body.
		if !strings.EqualFold(s.claimed, actual) {
			return "", errPayloadHash
		}
		return s.a.accessKeyID, nil
	}
	if !s.matches(actual) {
		return "", errSignatureMismatch
	}
	return s.a.accessKeyID, nil
}

// matches reports whether the request's signature is the one computed with payloadHash.
func (s *Signature) matches(payloadHash string) bool {
	mac := hmac.New(sha256.New, s.key)
	mac.Write(stringToSign(s.a.amzDate, s.scope, canonicalRequest(s.r, s.path, s.pairs, s.a, payloadHash)))
	var sig [64]byte
	hex.Encode(sig[:], mac.Sum(nil))
	return hmac.Equal(sig[:], []byte(s.a.signature))
}

var (
	errSignatureMismatch = fmt.Errorf("%w: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.", ErrInvalidSignature)
	errPayloadHash       = fmt.Errorf("%w: The provided 'x-amz-content-sha256' header does not match what was computed.", ErrInvalidSignature)
)

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
// and the request time from X-Amz-Date or Date.
func parseAuthorization(values []string, h http.Header) (*authParams, error) {
	if len(values) != 1 {
		return nil, fmt.Errorf("%w: the request has %d Authorization headers; send exactly one", ErrIncompleteSignature, len(values))
	}
	authz := values[0]
	if len(authz) > maxAuthLen {
		return nil, fmt.Errorf("%w: the Authorization header is %d bytes, over the %d-byte limit", ErrIncompleteSignature, len(authz), maxAuthLen)
	}
	alg, rest, _ := strings.Cut(authz, " ")
	if alg != algorithm {
		return nil, fmt.Errorf("%w: Unsupported AWS 'algorithm': %q; only %s is supported. Authorization=%s", ErrIncompleteSignature, alg, algorithm, authz)
	}

	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			// AWS hashes the pair rather than echo it: it may be a secret pasted by mistake.
			sum := sha256.Sum256([]byte(part))
			return nil, fmt.Errorf("%w: Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '%s'.", ErrIncompleteSignature, base64.StdEncoding.EncodeToString(sum[:]))
		}
		var dup bool
		switch k {
		case "Credential":
			cred, dup, haveCred = val, haveCred, true
		case "SignedHeaders":
			signed, dup, haveSigned = val, haveSigned, true
		case "Signature":
			sig, dup, haveSig = val, haveSig, true
		}
		if dup {
			return nil, fmt.Errorf("%w: Authorization header has more than one '%s' parameter. Authorization=%s", ErrIncompleteSignature, k, authz)
		}
	}

	amzDate := h.Get("X-Amz-Date")
	httpDate := h.Get("Date")
	var missing strings.Builder
	for _, m := range []struct {
		ok   bool
		what string
	}{
		{haveCred, "requires 'Credential' parameter"},
		{haveSigned, "requires 'SignedHeaders' parameter"},
		{haveSig, "requires 'Signature' parameter"},
		{amzDate != "" || httpDate != "", "requires existence of either a 'X-Amz-Date' or a 'Date' header"},
	} {
		if !m.ok {
			missing.WriteString("Authorization header " + m.what + ". ")
		}
	}
	if missing.Len() > 0 {
		return nil, fmt.Errorf("%w: %sAuthorization=%s", ErrIncompleteSignature, missing.String(), authz)
	}

	a := &authParams{signedHeaders: signed, signature: sig}
	if err := a.setCredential(cred); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(); err != nil {
		return nil, err
	}
	if amzDate != "" {
		return a, a.setAmzDate(amzDate)
	}
	t, err := http.ParseTime(httpDate)
	if err != nil {
		return nil, fmt.Errorf("%w: the Date header %q is not an HTTP date; send X-Amz-Date in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z')", ErrIncompleteSignature, httpDate)
	}
	a.time = t.UTC()
	a.amzDate = a.time.Format(timeFormat)
	return a, nil
}

// parseQueryAuth reads a presigned request's X-Amz-* query parameters.
func parseQueryAuth(pairs []queryPair) (*authParams, error) {
	get := func(name string) (string, error) {
		var val string
		n := 0
		for _, p := range pairs {
			if p.key == name {
				val = p.value
				n++
			}
		}
		if n > 1 {
			return "", fmt.Errorf("%w: AWS query-string parameter '%s' appears %d times; send it once.", ErrIncompleteSignature, name, n)
		}
		if n == 0 || val == "" {
			return "", fmt.Errorf("%w: AWS query-string parameters must include '%s'. Re-examine the query-string parameters.", ErrIncompleteSignature, name)
		}
		return val, nil
	}
	var p [5]string
	for i, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date"} {
		val, err := get(name)
		if err != nil {
			return nil, err
		}
		p[i] = val
	}
	if p[0] != algorithm {
		return nil, fmt.Errorf("%w: Unsupported AWS 'algorithm': %q; only %s is supported.", ErrIncompleteSignature, p[0], algorithm)
	}
	a := &authParams{presigned: true, signedHeaders: p[2], signature: p[3]}
	if err := a.setCredential(p[1]); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(); err != nil {
		return nil, err
	}
	if err := a.setAmzDate(p[4]); err != nil {
		return nil, err
	}
	if hasQueryKey(pairs, "X-Amz-Expires") {
		s, err := get("X-Amz-Expires")
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxExpires {
			return nil, fmt.Errorf("%w: X-Amz-Expires must be a whole number of seconds from 1 to %d (a week), not %q.", ErrIncompleteSignature, maxExpires, s)
		}
		a.expires = n
	}
	return a, nil
}

// setCredential splits "AKID/YYYYMMDD/region/service/aws4_request".
func (a *authParams) setCredential(cred string) error {
	if strings.Count(cred, "/") != 4 {
		return fmt.Errorf("%w: Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", ErrIncompleteSignature, cred)
	}
	var parts [5]string
	rest := cred
	for i := range parts {
		parts[i], rest, _ = strings.Cut(rest, "/")
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("%w: Credential has an empty element, expected keyid/date/region/service/term, got '%s'", ErrIncompleteSignature, cred)
		}
	}
	if parts[4] != terminator {
		return fmt.Errorf("%w: Credential should be scoped with a valid terminator: '%s', not '%s'.", ErrIncompleteSignature, terminator, parts[4])
	}
	a.accessKeyID, a.scopeDate, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// setSignedHeaders checks the list is bounded, well-formed and covers host, so that
// canonicalRequest can trust it.
func (a *authParams) setSignedHeaders() error {
	names := a.signedHeaders
	if n := strings.Count(names, ";") + 1; n > maxSignedHeaders {
		return fmt.Errorf("%w: %d signed headers, over the limit of %d", ErrIncompleteSignature, n, maxSignedHeaders)
	}
	host := false
	for rest := names; ; {
		name, more, found := strings.Cut(rest, ";")
		if !validHeaderName(name) {
			return fmt.Errorf("%w: SignedHeaders must be lower-case header names separated by ';', got '%s'", ErrIncompleteSignature, names)
		}
		host = host || name == "host"
		if !found {
			break
		}
		rest = more
	}
	if !host {
		return fmt.Errorf("%w: 'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", ErrIncompleteSignature)
	}
	return nil
}

// setAmzDate parses the request time in ISO 8601 basic format, strictly, because the
// string to sign uses the text as sent. By hand, as time.Parse plus a Format to check
// strictness cost a third of Verify.
func (a *authParams) setAmzDate(s string) error {
	ok := len(s) == len(timeFormat) && s[8] == 'T' && s[15] == 'Z'
	num := func(i, j int) int {
		n := 0
		for _, c := range []byte(s[i:j]) {
			ok = ok && '0' <= c && c <= '9'
			n = n*10 + int(c-'0')
		}
		return n
	}
	if ok {
		y, mo, d, h, mi, sec := num(0, 4), num(4, 6), num(6, 8), num(9, 11), num(11, 13), num(13, 15)
		t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
		// time.Date normalizes out-of-range fields (20240230 is March 1st): reject those.
		if ok && t.Year() == y && int(t.Month()) == mo && t.Day() == d && t.Hour() == h && t.Minute() == mi && t.Second() == sec {
			a.time, a.amzDate = t, s
			return nil
		}
	}
	return fmt.Errorf("%w: Date must be in ISO-8601 'basic format' (YYYYMMDD'T'HHMMSS'Z'), got '%s'", ErrIncompleteSignature, s)
}

// checkScope rejects a signature for another day, region or service, or outside its
// time window, before any key is looked up.
func (v *Verifier) checkScope(a *authParams) error {
	if a.scopeDate != a.amzDate[:8] {
		return fmt.Errorf("%w: Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", ErrInvalidSignature, a.scopeDate, a.amzDate[:8], a.amzDate)
	}
	if a.region != v.Region {
		return fmt.Errorf("%w: Credential should be scoped to a valid region, not '%s'. This endpoint serves '%s'.", ErrInvalidSignature, a.region, v.Region)
	}
	if service := v.service(); a.service != service {
		return fmt.Errorf("%w: Credential should be scoped to correct service: '%s'. ", ErrInvalidSignature, service)
	}

	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	n := now().UTC()
	skew := v.MaxSkew
	if skew <= 0 {
		skew = defaultMaxSkew
	}
	if a.time.After(n.Add(skew)) {
		return fmt.Errorf("%w: Signature not yet current: %s is still later than %s (%s + %s)", ErrInvalidSignature, a.amzDate, n.Add(skew).Format(timeFormat), n.Format(timeFormat), minutes(skew))
	}
	if a.expires > 0 {
		// A presigned URL lives for exactly X-Amz-Expires; skew only excuses a clock ahead.
		if end := a.time.Add(time.Duration(a.expires) * time.Second); n.After(end) {
			return fmt.Errorf("%w: Signature expired: %s is now earlier than %s (%s + %d sec.)", ErrInvalidSignature, end.Format(timeFormat), n.Format(timeFormat), a.amzDate, a.expires)
		}
		return nil
	}
	if a.time.Before(n.Add(-skew)) {
		return fmt.Errorf("%w: Signature expired: %s is now earlier than %s (%s - %s)", ErrInvalidSignature, a.amzDate, n.Add(-skew).Format(timeFormat), n.Format(timeFormat), minutes(skew))
	}
	return nil
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return "lambda"
	}
	return v.Service
}

// minutes formats a skew as AWS does ("15 min."), falling back to Go's notation.
func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min."
	}
	return d.String()
}

var emptySHA256 = hex.EncodeToString(sha256.New().Sum(nil))

// declaredPayloadHash returns the payload hash the client declared it signed with:
// the X-Amz-Content-Sha256 header or, presigned, that query parameter.
func declaredPayloadHash(r *http.Request, pairs []queryPair, presigned bool) (string, bool) {
	if v := r.Header.Values("X-Amz-Content-Sha256"); len(v) > 0 {
		return v[0], true
	}
	if presigned {
		for _, p := range pairs {
			if p.key == "X-Amz-Content-Sha256" {
				return p.value, true
			}
		}
	}
	return "", false
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// stringToSign builds the SigV4 string to sign for a canonical request.
func stringToSign(amzDate, scope string, creq []byte) []byte {
	sum := sha256.Sum256(creq)
	sts := make([]byte, 0, len(algorithm)+len(amzDate)+len(scope)+3+64)
	sts = append(sts, algorithm+"\n"...)
	sts = append(sts, amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, scope...)
	sts = append(sts, '\n')
	return hex.AppendEncode(sts, sum[:])
}

// keyCache keeps derived signing keys, so a warm request costs one HMAC instead of
// five. Entries are per (secret, day, region, service); the map is dropped whole when
// full, which is simpler than LRU and costs at most one derivation per key after.
type keyCache struct {
	mu   sync.Mutex
	keys map[cacheKey][]byte
}

type cacheKey struct{ secret, date, region, service string }

func (c *keyCache) get(secret, date, region, service string) []byte {
	k := cacheKey{secret, date, region, service}
	c.mu.Lock()
	key, ok := c.keys[k]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = deriveKey(secret, date, region, service)
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[cacheKey][]byte)
	}
	c.keys[k] = key
	c.mu.Unlock()
	return key
}

func deriveKey(secret, date, region, service string) []byte {
	key := []byte("AWS4" + secret)
	for _, s := range []string{date, region, service, terminator} {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(s))
		key = mac.Sum(nil)
	}
	return key
}
