package daemon

import (
	"os"
	"strings"
	"testing"
)

// TestNATSCredentials: the password is generated once, kept across restarts (with
// the address rewritten), and the file is readable by its owner only.
func TestNATSCredentials(t *testing.T) {
	dir := t.TempDir()
	pass, err := loadNATSPassword(dir)
	if err != nil || len(pass) != 32 {
		t.Fatalf("new password: %q, %v", pass, err)
	}
	if err := writeNATSCredentials(dir, pass, "0.0.0.0:4222"); err != nil {
		t.Fatal(err)
	}
	if err := writeNATSCredentials(dir, pass, "127.0.0.1:5222"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(NATSCredentialsFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(NATSCredentialsFile(dir))
	if got, want := strings.TrimSpace(string(b)), "nats://hearth:"+pass+"@127.0.0.1:5222"; got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
	again, err := loadNATSPassword(dir)
	if err != nil || again != pass {
		t.Errorf("after a restart: %q, %v; want the same password", again, err)
	}
	if other, _ := loadNATSPassword(t.TempDir()); other == pass {
		t.Error("two data directories got the same password")
	}
	for _, bad := range []string{"garbage", "nats://127.0.0.1:4222", "nats://other:0123456789abcdef0123@h:1", "nats://hearth:short@h:1"} {
		if err := os.WriteFile(NATSCredentialsFile(dir), []byte(bad+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadNATSPassword(dir); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
