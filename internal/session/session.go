// Package session mints and checks the temporary credentials of execution roles:
// what Lambda puts in every env as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, and what Hearth's SigV4 accepts back from the function.
//
// The credentials are stateless, as AWS's are to the services that check them: the
// session token carries the identity (account, function, role, access key id, expiry)
// and a MAC under the node's key, and the secret access key is derived from the token
// with the same key. So any node holding the key checks any token without a lookup,
// a restart does not invalidate the envs' credentials, and nothing is stored per env.
// Swapping the token of one credential for another's breaks the signature, because
// the secret that verifies it is derived from the token.
package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hearthfn/hearth/internal/lambdaapi/sigv4"
	"time"
)

// Errors of Check. Their text is AWS's message for the failure.
var (
	// ErrInvalid: the token was not minted with this key, does not belong to the
	// access key, is malformed, or names another account.
	ErrInvalid = errors.New("The security token included in the request is invalid.")
	// ErrExpired: a genuine token past its expiry.
	ErrExpired = errors.New("The security token included in the request is expired")
)

// KeySize is the size of the key tokens are minted with.
const KeySize = 32

// tokenPrefix marks Hearth's tokens (and their format's version).
const tokenPrefix = "HRTH1"

// Issuer mints credentials for one account's functions and checks them.
type Issuer struct {
	key     []byte
	account string
	ttl     time.Duration
	now     func() time.Time
}

// NewIssuer returns an Issuer for account, minting with key (KeySize random bytes
// that every node checking the tokens shares) credentials valid for ttl.
func NewIssuer(key []byte, account string, ttl time.Duration) (*Issuer, error) {
	if len(key) < KeySize {
		return nil, fmt.Errorf("session: the key must have %d bytes, not %d", KeySize, len(key))
	}
	if ttl <= 0 {
		return nil, errors.New("session: the credentials' lifetime must be positive")
	}
	return &Issuer{key: append([]byte(nil), key...), account: account, ttl: ttl, now: time.Now}, nil
}

// TTL is how long the credentials Mint returns are valid.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Credentials are one env's temporary credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// Identity is who a session token says its holder is.
type Identity struct {
	Account     string    `json:"a"`
	Function    string    `json:"f"` // the session name: the function's name
	Role        string    `json:"r"` // the execution role's ARN
	AccessKeyID string    `json:"k"`
	Expiration  time.Time `json:"x"`
}

// RoleName is the role's name: the last part of its ARN's resource
// (arn:aws:iam::123456789012:role/service-role/my-role → my-role).
func (id Identity) RoleName() string {
	res := id.Role
	if i := strings.LastIndexByte(res, ':'); i >= 0 {
		res = res[i+1:]
	}
	if i := strings.LastIndexByte(res, '/'); i >= 0 {
		res = res[i+1:]
	}
	return res
}

// ARN is the assumed-role session's ARN, as STS's GetCallerIdentity answers it.
func (id Identity) ARN() string {
	return "arn:aws:sts::" + id.Account + ":assumed-role/" + id.RoleName() + "/" + id.Function
}

// UserID is the role's unique id and the session name, as AWS answers it
// ("AROA…:my-function"). The role id is derived from the role's ARN, so it is the
// same for every session of one role.
func (id Identity) UserID() string {
	sum := sha256.Sum256([]byte(id.Account + "\x00" + id.Role))
	return "AROA" + base32.StdEncoding.EncodeToString(sum[:])[:17] + ":" + id.Function
}

// Mint returns new credentials for function running as role.
func (i *Issuer) Mint(function, role string) (Credentials, error) {
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return Credentials{}, err
	}
	id := Identity{
		Account:     i.account,
		Function:    function,
		Role:        role,
		AccessKeyID: "ASIA" + base32.StdEncoding.EncodeToString(rnd[:]), // 16 characters, as AWS's
		Expiration:  i.now().Add(i.ttl).UTC().Truncate(time.Second),
	}
	payload, err := json.Marshal(id)
	if err != nil {
		return Credentials{}, err
	}
	token := tokenPrefix + "." + base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(i.mac("token", payload))
	return Credentials{
		AccessKeyID:     id.AccessKeyID,
		SecretAccessKey: i.secret(payload),
		SessionToken:    token,
		Expiration:      id.Expiration,
	}, nil
}

// Check returns the identity token carries and the secret access key that signs
// for it, when token is genuine, belongs to accessKeyID and this account, and has
// not expired. Its errors are ErrInvalid and ErrExpired.
func (i *Issuer) Check(accessKeyID, token string) (Identity, string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != tokenPrefix || len(token) > 4096 {
		return Identity{}, "", ErrInvalid
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	mac, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || !hmac.Equal(mac, i.mac("token", payload)) {
		return Identity{}, "", ErrInvalid
	}
	var id Identity
	if err := json.Unmarshal(payload, &id); err != nil {
		return Identity{}, "", ErrInvalid
	}
	if id.AccessKeyID != accessKeyID || id.Account != i.account {
		// Another credential's token, or one minted for another account with the same
		// key (a data directory reused under another --account-id).
		return Identity{}, "", ErrInvalid
	}
	if !i.now().Before(id.Expiration) {
		return Identity{}, "", ErrExpired
	}
	return id, i.secret(payload), nil
}

func (i *Issuer) mac(purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, i.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// secret is the secret access key of the credentials payload describes: 40
// characters of AWS's alphabet, as a real one.
func (i *Issuer) secret(payload []byte) string {
	s := base64.StdEncoding.EncodeToString(i.mac("secret", payload))
	return s[:40]
}

// SigV4Lookup adapts the issuer to a SigV4 verifier (every edge that accepts an
// env's credentials: the Lambda API, SQS): the secret that signs for a session
// token, or the AWS error its refusal is. A nil issuer refuses every session.
func (iss *Issuer) SigV4Lookup() func(id, token string) (string, error) {
	if iss == nil {
		return nil
	}
	return func(id, token string) (string, error) {
		_, secret, err := iss.Check(id, token)
		switch {
		case errors.Is(err, ErrExpired):
			return "", fmt.Errorf("%w: %v", sigv4.ErrExpiredToken, err)
		case err != nil:
			return "", fmt.Errorf("%w: %v", sigv4.ErrUnrecognizedClient, err)
		}
		return secret, nil
	}
}
