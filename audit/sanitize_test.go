package audit_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/audit"

	"github.com/google/go-cmp/cmp"
)

func TestSanitizeClaims(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"plain string", "orders.read", "orders.read"},
		{"newline cannot start a record", "a\n{\"decision\":\"allow\"}", `a\u000A{"decision":"allow"}`},
		{"carriage return and tab", "a\r\tb", `a\u000D\u0009b`},
		{"NUL", "a\x00b", `a\u0000b`},
		{"terminal escape", "\x1b[31mred", `\u001B[31mred`},
		{"DEL and C1", "a\x7f\u0085b", `a\u007F\u0085b`},
		{"bidi override", "abc\u202Etxt.exe", `abc\u202Etxt.exe`},
		{"bidi isolate", "\u2066x\u2069", `\u2066x\u2069`},
		{"zero width and BOM", "ad\u200Bmin\uFEFF", `ad\u200Bmin\uFEFF`},
		{"line separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"invalid UTF-8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"tag characters", "x\U000E0041", `x\U000E0041`},
		{"truncated at a rune boundary", long, strings.Repeat("é", 126) + "…"},
		{"escapes count toward the limit", strings.Repeat("\n", 100), strings.Repeat(`\u000A`, 42) + "…"},
		{"number", 12.5, "12.5"},
		{"json number", json.Number("123456789012345678901"), "123456789012345678901"},
		{"bool", true, "true"},
		{"array", []any{"g1", "g2\n"}, `["g1","g2\n"]`},
		{"object", map[string]any{"b": 1, "a": "x"}, `{"a":"x","b":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := audit.SanitizeClaims(map[string]any{"c": tc.value}, []string{"c"})["c"]
			if got != tc.want {
				t.Errorf("SanitizeClaims(%q) = %q, want %q", tc.value, got, tc.want)
			}
			if len(got) > audit.MaxClaimBytes {
				t.Errorf("%d bytes, more than %d", len(got), audit.MaxClaimBytes)
			}
		})
	}
}

func TestSanitizeClaimsAllowList(t *testing.T) {
	claims := map[string]any{
		"scp": "a", "roles": []any{"r"}, "email": "alice@example.com", "upn": "alice@example.com",
		"preferred_username": "alice", "name": "Alice", "oid": "0000", "sub": "s", "Email": "x", "unlisted": "u", "nil": nil,
	}
	allow := []string{"scp", "roles", "email", "upn", "preferred_username", "name", "oid", "sub", "Email", "nil", "missing"}
	want := map[string]string{"scp": "a", "roles": `["r"]`}
	if diff := cmp.Diff(want, audit.SanitizeClaims(claims, allow)); diff != "" {
		t.Errorf("SanitizeClaims (-want +got):\n%s", diff)
	}
	if got := audit.SanitizeClaims(claims, nil); got != nil {
		t.Errorf("SanitizeClaims with no allow-list = %v; want nil", got)
	}
	for _, c := range []string{"email", "UPN", "preferred_username", "oid", "sub", "name", "given_name", "family_name", "unique_name", "ipaddr"} {
		if !audit.IsPersonalClaim(c) {
			t.Errorf("IsPersonalClaim(%q) = false", c)
		}
	}
	if audit.IsPersonalClaim("scp") {
		t.Error(`IsPersonalClaim("scp") = true`)
	}
}

// FuzzSanitize: whatever goes in, what comes out is valid UTF-8, free of
// control and format characters, within the limit, and stable when cleaned
// again.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\xff", strings.Repeat("€", 100), "\u202E", "\\u000A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := audit.SanitizeClaims(map[string]any{"c": s}, []string{"c"})["c"]
		if !utf8.ValidString(got) || len(got) > audit.MaxClaimBytes {
			t.Fatalf("SanitizeClaims(%q) = %q: invalid or too long", s, got)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) }) {
			t.Fatalf("SanitizeClaims(%q) = %q: hidden characters", s, got)
		}
		if again := audit.SanitizeClaims(map[string]any{"c": got}, []string{"c"})["c"]; again != got {
			t.Fatalf("not idempotent: %q then %q", got, again)
		}
	})
}
