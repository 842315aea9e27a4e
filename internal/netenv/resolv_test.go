package netenv

import "testing"

func TestResolvConf(t *testing.T) {
	in := `# comment
nameserver 127.0.0.53
nameserver 10.255.255.53
nameserver ::1
nameserver 0.0.0.0
nameserver bogus
search example.internal
options edns0 trust-ad
sortlist 10.0.0.0
`
	want := `# Written by Hearth from the host's /etc/resolv.conf.
nameserver 10.255.255.53
search example.internal
options edns0 trust-ad
`
	if got := string(resolvConf([]byte(in))); got != want {
		t.Errorf("resolvConf:\n%s\nwant:\n%s", got, want)
	}
}
