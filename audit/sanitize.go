package audit

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on stored strings, in bytes of UTF-8 after escaping. A longer value
// is cut at a rune boundary and ends with "…".
const (
	MaxClaimBytes = 256  // a claim value (SanitizeClaims)
	MaxFieldBytes = 1024 // any other string field of an Event
	maxKeyBytes   = 128  // a claim name
)

// personalClaims are claims that name or address a person, or identify them
// in clear. SanitizeClaims never stores them, whatever the allow-list says:
// the principal is stored as a pseudonym, and these would undo it.
var personalClaims = map[string]bool{
	"sub": true, "oid": true, "email": true, "emails": true, "upn": true, "unique_name": true,
	"name": true, "given_name": true, "family_name": true, "middle_name": true, "nickname": true,
	"preferred_username": true, "login_hint": true, "verified_primary_email": true,
	"verified_secondary_email": true, "phone_number": true, "address": true, "birthdate": true,
	"ipaddr": true, "onprem_sid": true, "samaccountname": true, "picture": true, "profile": true,
}

// IsPersonalClaim reports whether SanitizeClaims refuses to store the claim
// name even when it is allow-listed, because it names or addresses a person
// (email, upn, name, preferred_username, ...) or identifies them in clear
// (sub, oid). Configuration validation can use it to reject such an
// allow-list early.
func IsPersonalClaim(name string) bool {
	return personalClaims[strings.ToLower(name)]
}

// SanitizeClaims returns the claims named in allow, as data fit to store:
// claims not in allow, and personal claims (IsPersonalClaim), are left out;
// a string value is kept as is, any other value (number, bool, array,
// object) as its compact JSON; then each value goes through the same
// cleaning as every stored string: invalid UTF-8 becomes U+FFFD, control,
// line-separator and format characters (newlines, NUL, ESC, bidi overrides,
// zero-width characters) become visible escapes like \u000A, and the result
// is cut to MaxClaimBytes at a rune boundary. Null values are left out.
// It returns nil when no claim remains.
func SanitizeClaims(claims map[string]any, allow []string) map[string]string {
	var out map[string]string
	for _, name := range allow {
		if IsPersonalClaim(name) {
			continue
		}
		v, ok := claims[name]
		if !ok || v == nil {
			continue
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case float64:
			s = strconv.FormatFloat(v, 'g', -1, 64)
		case json.Number:
			s = v.String()
		default:
			b, err := json.Marshal(v)
			if err != nil {
				s = fmt.Sprint(v)
			} else {
				s = string(b)
			}
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[clean(name, maxKeyBytes)] = clean(s, MaxClaimBytes)
	}
	return out
}

// clean makes s safe to store and show: invalid UTF-8 is replaced by
// U+FFFD; runes that control a terminal or the display of text (Cc, Cf, Zl,
// Zp: newlines, NUL, ESC, DEL, C1, bidi overrides and isolates, zero-width
// characters, BOM) are written as \uXXXX (or \UXXXXXXXX); the result is at
// most max bytes, cut at a rune boundary with "…" at the end. clean is
// idempotent: its output contains none of what it escapes.
func clean(s string, max int) string {
	if len(s) <= max && isClean(s) {
		return s
	}
	const ellipsis = "…"
	var b strings.Builder
	for _, r := range s {
		var piece string
		if escaped(r) {
			if r <= 0xFFFF {
				piece = fmt.Sprintf(`\u%04X`, r)
			} else {
				piece = fmt.Sprintf(`\U%08X`, r)
			}
		} else {
			piece = string(r) // an invalid byte comes as utf8.RuneError: U+FFFD
		}
		if b.Len()+len(piece) > max {
			// Cut: make room for the ellipsis at a rune boundary.
			out := b.String()
			for len(out)+len(ellipsis) > max && out != "" {
				_, size := utf8.DecodeLastRuneInString(out)
				out = out[:len(out)-size]
			}
			return out + ellipsis
		}
		b.WriteString(piece)
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		} else if c >= 0x80 {
			return isCleanUnicode(s[i:])
		}
	}
	return true
}

func isCleanUnicode(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if escaped(r) {
			return false
		}
	}
	return true
}

func escaped(r rune) bool {
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// cleanEvent returns a copy of e with every string field cleaned (see
// clean), so nothing a caller sends can add a line, hide text or exceed the
// size limits, whatever the sink does with it.
func cleanEvent(e *Event) Event {
	c := *e
	for _, p := range []*string{
		&c.ID, &c.RequestID, &c.Replica, &c.Tenant, &c.Principal, &c.PseudonymKey, &c.PrincipalKind, &c.App,
		&c.Action, &c.Resource, &c.Route, &c.Role, &c.STSSession, &c.Target, &c.TargetRequestID,
		&c.Check, &c.ErrorClass, &c.TraceID,
	} {
		*p = clean(*p, MaxFieldBytes)
	}
	c.Agents, c.Policies, c.Claims = nil, nil, nil // empty is absent, as in the JSON
	if len(e.Agents) > 0 {
		c.Agents = make([]Agent, len(e.Agents))
		for i, a := range e.Agents {
			c.Agents[i] = Agent{Subject: clean(a.Subject, MaxFieldBytes), App: clean(a.App, MaxFieldBytes), Via: clean(a.Via, MaxFieldBytes)}
		}
	}
	if len(e.Policies) > 0 {
		c.Policies = make([]string, len(e.Policies))
		for i, p := range e.Policies {
			c.Policies[i] = clean(p, MaxFieldBytes)
		}
	}
	if len(e.Claims) > 0 {
		c.Claims = make(map[string]string, len(e.Claims))
		keys := make([]string, 0, len(e.Claims))
		for k := range e.Claims {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic when two keys clean to the same one
		for _, k := range keys {
			if IsPersonalClaim(k) {
				continue
			}
			c.Claims[clean(k, maxKeyBytes)] = clean(e.Claims[k], MaxClaimBytes)
		}
		if len(c.Claims) == 0 {
			c.Claims = nil
		}
	}
	return c
}
