package session

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func newIssuer(t *testing.T, key byte, account string, now *time.Time) *Issuer {
	t.Helper()
	i, err := NewIssuer(bytes.Repeat([]byte{key}, KeySize), account, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	i.now = func() time.Time { return *now }
	return i
}

func TestMintCheck(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	iss := newIssuer(t, 1, "123456789012", &now)
	c, err := iss.Mint("my-fn", "arn:aws:iam::123456789012:role/service-role/exec-role")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.AccessKeyID, "ASIA") || len(c.AccessKeyID) != 20 || len(c.SecretAccessKey) != 40 {
		t.Fatalf("credentials do not look like AWS's: %+v", c)
	}
	if !c.Expiration.Equal(now.Add(time.Hour)) {
		t.Fatalf("expiration %v", c.Expiration)
	}
	id, secret, err := iss.Check(c.AccessKeyID, c.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	if secret != c.SecretAccessKey {
		t.Fatal("Check derived another secret than Mint's")
	}
	if got, want := id.ARN(), "arn:aws:sts::123456789012:assumed-role/exec-role/my-fn"; got != want {
		t.Fatalf("ARN %q, want %q", got, want)
	}
	if !strings.HasPrefix(id.UserID(), "AROA") || !strings.HasSuffix(id.UserID(), ":my-fn") || len(id.UserID()) != 21+len(":my-fn") {
		t.Fatalf("UserID %q", id.UserID())
	}
	c2, _ := iss.Mint("my-fn", "arn:aws:iam::123456789012:role/service-role/exec-role")
	if c2.AccessKeyID == c.AccessKeyID || c2.SecretAccessKey == c.SecretAccessKey {
		t.Fatal("two mints gave the same key")
	}
	id2, _, _ := iss.Check(c2.AccessKeyID, c2.SessionToken)
	if id2.UserID() != id.UserID() {
		t.Fatal("the role id differs between sessions of one role")
	}
}

func TestCheckRefuses(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	iss := newIssuer(t, 1, "123456789012", &now)
	c, _ := iss.Mint("fn", "arn:aws:iam::123456789012:role/r")
	other, _ := iss.Mint("fn2", "arn:aws:iam::123456789012:role/r")
	parts := strings.Split(c.SessionToken, ".")
	cases := map[string]struct {
		iss        *Issuer
		key, token string
		want       error
	}{
		"another key's token":        {iss, c.AccessKeyID, other.SessionToken, ErrInvalid},
		"empty":                      {iss, c.AccessKeyID, "", ErrInvalid},
		"garbage":                    {iss, c.AccessKeyID, "AQoDYXdzEJr//////////wEaDH", ErrInvalid},
		"payload swapped":            {iss, c.AccessKeyID, parts[0] + "." + strings.Split(other.SessionToken, ".")[1] + "." + parts[2], ErrInvalid},
		"bad base64":                 {iss, c.AccessKeyID, parts[0] + ".!!." + parts[2], ErrInvalid},
		"minted with another key":    {newIssuer(t, 2, "123456789012", &now), c.AccessKeyID, c.SessionToken, ErrInvalid},
		"minted for another account": {newIssuer(t, 1, "210987654321", &now), c.AccessKeyID, c.SessionToken, ErrInvalid},
	}
	for name, tc := range cases {
		if _, _, err := tc.iss.Check(tc.key, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	now = now.Add(time.Hour - time.Second)
	if _, _, err := iss.Check(c.AccessKeyID, c.SessionToken); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if _, _, err := iss.Check(c.AccessKeyID, c.SessionToken); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
}

func FuzzCheck(f *testing.F) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	iss, _ := NewIssuer(bytes.Repeat([]byte{1}, KeySize), "123456789012", time.Hour)
	iss.now = func() time.Time { return now }
	c, _ := iss.Mint("fn", "arn:aws:iam::123456789012:role/r")
	f.Add(c.AccessKeyID, c.SessionToken)
	f.Add("ASIA", "HRTH1..")
	f.Fuzz(func(t *testing.T, key, token string) {
		id, secret, err := iss.Check(key, token)
		if err == nil && (id.AccessKeyID != key || secret == "") {
			t.Fatalf("accepted %q for %q as %+v", token, key, id)
		}
	})
}
