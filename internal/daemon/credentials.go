package daemon

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return "", "", false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", "", false, err
	}
	return id, secret, true, f.Close()
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
