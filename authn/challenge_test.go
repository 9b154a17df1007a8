package authn

import (
	"strings"
	"testing"
)

func TestChallenge(t *testing.T) {
	for _, c := range []struct{ code, desc, meta, want string }{
		{"", "", "", `Bearer realm="gatehouse"`},
		{"", "", "https://gw.example/.well-known/oauth-protected-resource",
			`Bearer realm="gatehouse", resource_metadata="https://gw.example/.well-known/oauth-protected-resource"`},
		{"invalid_token", "signature: does not verify", "",
			`Bearer realm="gatehouse", error="invalid_token", error_description="signature: does not verify"`},
		// A description never breaks out of its quoted string or the header.
		{"invalid_token", "a\"b\\c\r\nX-Evil: 1\xff", "",
			`Bearer realm="gatehouse", error="invalid_token", error_description="a_b_c__X-Evil: 1_"`},
	} {
		if got := Challenge(c.code, c.desc, c.meta); got != c.want {
			t.Errorf("Challenge(%q, %q, %q) = %s, want %s", c.code, c.desc, c.meta, got, c.want)
		}
	}
	if got := Challenge("invalid_token", strings.Repeat("x", 500), ""); len(got) > 300 {
		t.Errorf("a long description is not cut: %d bytes", len(got))
	}
}
