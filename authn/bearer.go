package authn

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// RawToken is a bearer token as received. It redacts itself in logs.
type RawToken string

// LogValue keeps tokens out of logs (SECURITY.md invariant 10).
func (RawToken) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String keeps tokens out of fmt output too.
func (RawToken) String() string { return "REDACTED" }

// ErrNoToken marks a request that carried no credentials at all: RFC 6750
// §3.1 says such a 401 carries no error code.
var ErrNoToken = errors.New("no bearer token")

var errNoToken = ErrNoToken

// BearerToken extracts the one bearer token of r (RFC 6750 §2.1). The query
// parameter form is refused (it leaks into logs), and so is a request that
// carries several Authorization headers or a token in more than one place.
func BearerToken(r *http.Request) (RawToken, error) {
	if r.URL != nil && r.URL.Query().Has("access_token") {
		return "", fail(InvalidRequest, CheckRequest, "tokens in the query string are not accepted", nil)
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", fail(InvalidRequest, CheckRequest, "no bearer token", ErrNoToken)
	case 1:
	default:
		return "", fail(InvalidRequest, CheckRequest, "more than one Authorization header", nil)
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fail(InvalidRequest, CheckRequest, "Authorization is not a Bearer token", nil)
	}
	if token == "" || !isB64Token(token) {
		return "", fail(InvalidRequest, CheckRequest, "malformed bearer token", nil)
	}
	return RawToken(token), nil
}

// isB64Token checks the RFC 6750 b64token syntax: 1*( ALPHA / DIGIT /
// "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// Challenge is an RFC 6750 WWW-Authenticate value for a refused bearer
// token: realm "gatehouse", the RFC 9728 resource_metadata URL when
// metadataURL is set, and the error code and description when set. The
// description is cut to 200 printable ASCII characters without quotes or
// backslashes (RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E).
func Challenge(code, desc, metadataURL string) string {
	parts := []string{`Bearer realm="gatehouse"`}
	if metadataURL != "" {
		parts = append(parts, fmt.Sprintf(`resource_metadata=%q`, headerSafe(metadataURL)))
	}
	if code != "" {
		parts = append(parts, fmt.Sprintf(`error=%q`, headerSafe(code)))
	}
	if desc != "" {
		parts = append(parts, fmt.Sprintf(`error_description=%q`, headerSafe(desc)))
	}
	return strings.Join(parts, ", ")
}

func headerSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '_'
		}
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
