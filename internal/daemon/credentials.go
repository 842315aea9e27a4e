package daemon

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearthfn/hearth/internal/session"
)

// CredentialsProfile is the profile name serve writes and the hearth CLI reads.
const CredentialsProfile = "hearth"

// CredentialsFile is where serve keeps its generated key pair.
func CredentialsFile(dataDir string) string { return filepath.Join(dataDir, "credentials") }

// LoadCredentials returns the API's key pair: from HEARTH_ACCESS_KEY_ID and
// HEARTH_SECRET_ACCESS_KEY when set, else from the data directory's credentials file,
// which it creates (mode 0600, shared-credentials format, profile "hearth") on first
// start. generated reports that a new pair was written.
func LoadCredentials(dataDir string) (id, secret string, generated bool, err error) {
	id, secret = os.Getenv("HEARTH_ACCESS_KEY_ID"), os.Getenv("HEARTH_SECRET_ACCESS_KEY")
	if id != "" || secret != "" {
		if id == "" || secret == "" {
			return "", "", false, errors.New("set both HEARTH_ACCESS_KEY_ID and HEARTH_SECRET_ACCESS_KEY, or neither")
		}
		return id, secret, false, nil
	}
	path := CredentialsFile(dataDir)
	id, secret, err = readProfile(path, CredentialsProfile)
	if err == nil {
		return id, secret, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", "", false, err
	}
	id, secret = "AKIA"+randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", false, err
	}
	content := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", CredentialsProfile, id, secret)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := writeAndClose(f, content); err != nil {
		return "", "", false, err
	}
	return id, secret, true, nil
}

func writeAndClose(f *os.File, content string) error {
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// NATSUser is the user the embedded NATS server's port admits.
const NATSUser = "hearth"

// NATSCredentialsFile is where serve keeps the password of the embedded NATS
// server's port (--nats-listen), as a nats:// URL with user and password.
func NATSCredentialsFile(dataDir string) string { return filepath.Join(dataDir, "nats-credentials") }

// loadNATSPassword returns the password of the NATS port from the data directory,
// or a new random one (192 bits) when there is none yet.
func loadNATSPassword(dataDir string) (string, error) {
	path := NATSCredentialsFile(dataDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return randomString(32, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), nil
	}
	if err != nil {
		return "", err
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil || u.User == nil {
		return "", fmt.Errorf("%s is not a nats://user:password@host:port URL; remove it to have a new password generated", path)
	}
	pass, _ := u.User.Password()
	if u.User.Username() != NATSUser || len(pass) < 16 {
		return "", fmt.Errorf("%s does not hold a password for user %q of at least 16 characters; remove it to have a new one generated", path, NATSUser)
	}
	return pass, nil
}

// writeNATSCredentials records how to reach the NATS port, with its password, mode
// 0600. It is rewritten on each start, as the address may have changed; a reader
// sees the old file or the new one, never half of one.
func writeNATSCredentials(dataDir, password, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // listening everywhere: reachable on loopback from here
	}
	u := url.URL{Scheme: "nats", User: url.UserPassword(NATSUser, password), Host: net.JoinHostPort(host, port)}
	path := NATSCredentialsFile(dataDir)
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := writeAndClose(f, u.String()+"\n"); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SessionKeyFile holds the key the execution roles' temporary credentials are
// minted with. It lives with the data, so envs' credentials stay valid across a
// restart; nodes of one cluster will share it through the store.
func SessionKeyFile(dataDir string) string { return filepath.Join(dataDir, "session-key") }

// loadSessionKey returns the session key from the data directory, creating it
// (mode 0600) on first start.
func loadSessionKey(dataDir string) ([]byte, error) {
	path := SessionKeyFile(dataDir)
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != session.KeySize {
			return nil, fmt.Errorf("%s does not hold a %d-byte hex key; remove it to have a new one generated (envs' credentials minted with the old one stop working)", path, session.KeySize)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, session.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadSessionKey(dataDir) // another start wrote it first
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := writeAndClose(f, hex.EncodeToString(key)+"\n"); err != nil {
		return nil, err
	}
	return key, nil
}

// readProfile reads one profile's keys from a shared-credentials file.
func readProfile(path, profile string) (id, secret string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = strings.Trim(line, "[] ") == profile
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("%s has no complete [%s] profile", path, profile)
	}
	return id, secret, nil
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
