package gateway

import (
	"strings"
	"unicode/utf8"
)

// canonicalPath checks that the request's raw (escaped) path has exactly
// one reading, and returns it decoded. Anything another component could
// normalise differently — dot segments, duplicate slashes, encoded '/',
// '\', '.', '%' or NUL, ';' parameters, non-UTF-8 — is refused, never
// rewritten (SECURITY.md invariant 9).
func canonicalPath(escaped string) (string, bool) {
	if escaped == "" || escaped[0] != '/' {
		return "", false
	}
	lower := strings.ToLower(escaped)
	for _, bad := range []string{"//", "%2f", "%5c", "%00", "%25", "%2e", "\\", ";"} {
		if strings.Contains(lower, bad) {
			return "", false
		}
	}
	for _, seg := range strings.Split(escaped[1:], "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	decoded, ok := unescapePath(escaped)
	if !ok || !utf8.ValidString(decoded) {
		return "", false
	}
	for i := 0; i < len(decoded); i++ {
		if decoded[i] < 0x20 || decoded[i] == 0x7f {
			return "", false
		}
	}
	return decoded, true
}

func unescapePath(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
