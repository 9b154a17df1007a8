package gateway

import "testing"

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		ok   bool
	}{
		{"/whoami", "/whoami", true},
		{"/reports/q3", "/reports/q3", true},
		{"/a%20b", "/a b", true},
		{"/caf%C3%A9", "/café", true},
		{"/", "/", true},
		{"//whoami", "", false},
		{"/a//b", "", false},
		{"/./whoami", "", false},
		{"/a/../admin", "", false},
		{"/a/..", "", false},
		{"/a/.", "", false},
		{"/a%2Fb", "", false},
		{"/a%2fb", "", false},
		{"/a%5Cb", "", false},
		{"/a\\b", "", false},
		{"/a%00b", "", false},
		{"/a;b=c", "", false},
		{"/a%252Fb", "", false},
		{"/%2e%2e/admin", "", false},
		{"/a%ff", "", false},
		{"/a%0Ab", "", false},
		{"/a%", "", false},
		{"/a%zz", "", false},
		{"relative", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := canonicalPath(tc.raw)
		if ok != tc.ok || got != tc.want {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/a/b", "/a%2Fb", "/../x", "/a%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, ok := canonicalPath(raw)
		if !ok {
			return
		}
		// What is accepted has one reading: no dot segments or empty
		// segments after decoding either.
		if _, again := canonicalPath(p); !again && !containsPercent(raw) {
			t.Fatalf("accepted %q but its decoded form %q is not canonical", raw, p)
		}
	})
}

func containsPercent(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			return true
		}
	}
	return false
}
