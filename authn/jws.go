package authn

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"

	"github.com/go-json-experiment/json"
)

// jws is a compact JWS split and decoded, nothing verified yet.
type jws struct {
	signingInput string // header.payload, exactly as received
	signature    []byte
	header       header
	claims       map[string]any
}

type header struct {
	alg string
	kid string
	typ string
}

// b64 is unpadded base64url that rejects non-zero trailing bits, so every
// byte string has exactly one accepted encoding (RFC 7515 §2, §3.1).
var b64 = base64.RawURLEncoding.Strict()

// Header parameters that name a key or change how the payload is read. A
// token carrying any of them is rejected, not "ignored and continued"
// (SECURITY.md invariants 2 and 3).
var forbiddenHeader = map[string]string{
	"jku": "keys are never fetched from a URL named in the token",
	"x5u": "keys are never fetched from a URL named in the token",
	"jwk": "a key embedded in the token is never trusted",
	"x5c": "a certificate embedded in the token is never trusted",
	"zip": "compressed payloads are not accepted",
	"b64": "unencoded payloads are not accepted",
	"enc": "encrypted tokens (JWE) are not accepted",
	"epk": "encrypted tokens (JWE) are not accepted",
}

// Names that matter for security, in header or payload. A case variant of one
// of them ("Alg", "EXP") is rejected: a lenient reader elsewhere might fold it
// onto the real one.
var knownNames = map[string]bool{
	"alg": true, "kid": true, "typ": true, "cty": true, "crit": true, "x5t": true, "x5t#s256": true,
	"jku": true, "x5u": true, "jwk": true, "x5c": true, "zip": true, "b64": true, "enc": true,
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"tid": true, "oid": true, "azp": true, "appid": true, "scp": true, "scope": true, "roles": true,
	"groups": true, "ver": true, "idtyp": true, "act": true, "uti": true, "client_id": true,
	"_claim_names": true, "_claim_sources": true, "hasgroups": true, "wids": true, "may_act": true,
	"cnf": true, "azpacr": true, "appidacr": true,
}

// parseJWS splits a compact JWS and decodes its header and payload strictly:
// exactly three segments, canonical base64url, JSON objects without duplicate
// or case-variant names, valid UTF-8, no trailing data.
func parseJWS(token string) (*jws, error) {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || first == last {
		return nil, invalid(CheckFormat, "not a compact JWS: want three dot-separated segments")
	}
	if strings.Count(token, ".") != 2 {
		return nil, invalid(CheckFormat, "not a compact JWS: want exactly three segments (encrypted or JSON-serialised tokens are not accepted)")
	}
	h, p, s := token[:first], token[first+1:last], token[last+1:]
	if h == "" || p == "" {
		return nil, invalid(CheckFormat, "empty header or payload segment")
	}
	if s == "" {
		return nil, invalid(CheckSignature, "token is unsigned")
	}
	t := &jws{signingInput: token[:last]}

	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, fail(InvalidToken, CheckFormat, "header is not canonical base64url", err)
	}
	if t.signature, err = b64.DecodeString(s); err != nil {
		return nil, fail(InvalidToken, CheckFormat, "signature is not canonical base64url", err)
	}
	if err := t.parseHeader(hb); err != nil {
		return nil, err
	}
	pb, err := b64.DecodeString(p)
	if err != nil {
		return nil, fail(InvalidToken, CheckFormat, "payload is not canonical base64url", err)
	}
	if err := json.Unmarshal(pb, &t.claims); err != nil {
		return nil, fail(InvalidToken, CheckFormat, "payload is not a strict JSON object", err)
	}
	if t.claims == nil {
		return nil, invalid(CheckFormat, "payload is not a JSON object")
	}
	for name := range t.claims {
		if err := checkCase(name); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *jws) parseHeader(hb []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(hb, &raw); err != nil {
		return fail(InvalidToken, CheckFormat, "header is not a strict JSON object", err)
	}
	if raw == nil {
		return invalid(CheckFormat, "header is not a JSON object")
	}
	for name, v := range raw {
		if err := checkCase(name); err != nil {
			return err
		}
		if why, bad := forbiddenHeader[name]; bad {
			// name is one of forbiddenHeader's own keys, not free text.
			return invalid(CheckHeader, fmt.Sprintf("header parameter %s is not accepted: %s", name, why))
		}
		switch name {
		case "crit":
			// We implement no JWS extensions, so every critical name is
			// unknown to us (RFC 7515 §4.1.11).
			return invalid(CheckCrit, "critical header parameters are not understood")
		case "cty":
			if s, ok := v.(string); !ok || strings.EqualFold(s, "JWT") || strings.EqualFold(s, "application/jwt") {
				return invalid(CheckHeader, "nested tokens (cty JWT) are not accepted")
			}
		case "alg", "kid", "typ":
			s, ok := v.(string)
			if !ok {
				return invalid(CheckHeader, fmt.Sprintf("header parameter %s must be a string", name))
			}
			switch name {
			case "alg":
				t.header.alg = s
			case "kid":
				t.header.kid = s
			case "typ":
				t.header.typ = s
			}
		}
	}
	if t.header.alg == "" {
		return invalid(CheckAlg, "header has no alg")
	}
	return nil
}

func checkCase(name string) error {
	if knownNames[name] || !hasUpper(name) {
		return nil
	}
	if lower := strings.ToLower(name); knownNames[lower] {
		// The name is the token's: only the log sees it.
		return fail(InvalidToken, CheckFormat, "a member name is a case variant of a standard name",
			fmt.Errorf("member %s is a case variant of %q", clip(name), lower))
	}
	return nil
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			return true
		}
		if c >= 0x80 {
			// Non-ASCII: no standard name is a case variant of it, but
			// let unicode decide rather than guess.
			for _, r := range s[i:] {
				if unicode.IsUpper(r) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// Typed accessors for claims. Each returns an error naming the claim when the
// claim exists with the wrong JSON type; a missing claim is the zero value.

func claimString(c map[string]any, name string) (string, error) {
	v, ok := c[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid(CheckClaims, fmt.Sprintf("claim %s must be a string", name))
	}
	return s, nil
}

func claimStrings(c map[string]any, name string) ([]string, error) {
	v, ok := c[name]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, invalid(CheckClaims, fmt.Sprintf("claim %s must be an array of strings", name))
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, invalid(CheckClaims, fmt.Sprintf("claim %s must be an array of strings", name))
		}
		out = append(out, s)
	}
	return out, nil
}

// claimStringOrStrings reads claims such as `aud` that may be a string or an
// array of strings (RFC 7519 §4.1.3).
func claimStringOrStrings(c map[string]any, name string) ([]string, error) {
	if _, ok := c[name].(string); ok {
		s, _ := claimString(c, name)
		return []string{s}, nil
	}
	return claimStrings(c, name)
}

// claimTime reads a NumericDate. ok is false when the claim is absent.
func claimTime(c map[string]any, name string) (secs float64, ok bool, err error) {
	v, present := c[name]
	if !present {
		return 0, false, nil
	}
	f, isNum := v.(float64)
	if !isNum || f < 0 || f > 1e11 {
		return 0, false, invalid(CheckClaims, fmt.Sprintf("claim %s must be a NumericDate", name))
	}
	return f, true, nil
}
