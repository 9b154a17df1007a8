package authn

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// marker is planted in every part of a hostile token or request; hostile
// adds what could break out of a quoted string, a header or a log line.
const (
	marker  = "ZZmarkerZZ"
	hostile = marker + "\"\\'\x00\x07\x1b[31m\r\nX-Evil: 1\u202e%s%q<>"
)

// TestReasonNeverEchoesTheToken: for hostile values in every header
// parameter and claim a check reads, and for tokens malformed around them,
// the caller-facing Check and Reason name the rule, never the value
// (SECURITY.md: error descriptions never echo token contents). The value
// may be in Err, which only the log and the audit trail see.
func TestReasonNeverEchoesTheToken(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	now := clock.Now()
	iss := ks.issuer()

	v2 := ks.entraConfig()
	v2.Types = []string{"JWT"}
	v2.AllowedApps = []string{testClient}
	v1 := ks.entraConfig()
	v1.TokenVersion = "1.0"
	v1.AllowedApps = []string{testClient}
	oidc := IssuerConfig{Name: "oidc", Issuer: iss, JWKSURL: ks.srv.URL + "/common/discovery/v2.0/keys",
		Audiences: []string{testAPI}, Claims: ClaimNames{Tenant: "tid", App: "appid"}}
	verifiers := map[string]*Verifier{
		"v2": ks.verifier(t, clock, v2), "v1": ks.verifier(t, clock, v1), "oidc": ks.verifier(t, clock, oidc),
	}

	claims := func(edit func(map[string]any)) string {
		c := entraClaims(iss, now)
		if edit != nil {
			edit(c)
		}
		return mustJSON(t, c)
	}
	set := func(name string, val any) func(map[string]any) {
		return func(c map[string]any) { c[name] = val }
	}
	header := func(edit func(map[string]any)) string {
		h := map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}
		if edit != nil {
			edit(h)
		}
		return mustJSON(t, h)
	}
	signed := func(h, p string) string { return sign(t, h, p, "RS256", k1) }
	unsigned := func(h, p string) string { return b64enc([]byte(h)) + "." + b64enc([]byte(p)) + ".AAAA" }
	good := signed(header(nil), claims(nil))
	q := mustJSON(t, hostile) // hostile as a JSON string, quotes included

	tests := []struct {
		name     string
		verifier string // "v2" unless set
		token    string
		leaks    []string // besides marker
		keep     bool     // Err must keep the value, for the log
	}{
		// Header parameters.
		{name: "alg", token: signed(header(set("alg", hostile)), claims(nil)), keep: true},
		{name: "alg near an allowed one", token: signed(header(set("alg", "RS256 "+marker)), claims(nil)), keep: true},
		{name: "alg not a string", token: signed(header(set("alg", []any{hostile})), claims(nil))},
		{name: "kid", token: unsigned(header(set("kid", hostile)), claims(nil))},
		{name: "kid not a string", token: unsigned(header(set("kid", map[string]any{marker: hostile})), claims(nil))},
		{name: "typ", token: signed(header(set("typ", hostile)), claims(nil))},
		{name: "cty", token: signed(header(set("cty", []any{hostile})), claims(nil))},
		{name: "crit", token: signed(header(set("crit", []any{hostile})), claims(nil))},
		{name: "jku", token: signed(header(set("jku", "https://"+marker+".example/keys")), claims(nil))},
		{name: "x5u", token: signed(header(set("x5u", "https://"+marker+".example/cert")), claims(nil))},
		{name: "jwk", token: signed(header(set("jwk", map[string]any{"kty": "RSA", "kid": hostile, "n": marker, "e": "AQAB"})), claims(nil))},
		{name: "x5c", token: signed(header(set("x5c", []any{hostile})), claims(nil))},
		{name: "zip", token: signed(header(set("zip", hostile)), claims(nil))},
		{name: "b64", token: signed(header(set("b64", hostile)), claims(nil))},
		{name: "enc", token: signed(header(set("enc", hostile)), claims(nil))},
		{name: "epk", token: signed(header(set("epk", map[string]any{"kty": hostile})), claims(nil))},
		{name: "case-variant header name", token: signed(header(set("\u212Aid", hostile)), claims(nil)), leaks: []string{"\u212A"}, keep: true},
		{name: "case-variant claim name", token: signed(header(nil), claims(set("ExP", hostile))), leaks: []string{"ExP"}, keep: true},
		{name: "duplicate header member", token: signed(`{"alg":"RS256","kid":"k1","alg":`+q+`}`, claims(nil))},
		{name: "duplicate claim", token: signed(header(nil), strings.TrimSuffix(claims(nil), "}")+`,"iss":`+q+`}`)},
		{name: "header member named after the marker", token: signed(`{"alg":`+q+`,"kid":"k1",`+q+`:1}`, claims(nil))},

		// Malformed structure around the marker.
		{name: "malformed header JSON", token: unsigned(`{"alg":"`+marker, claims(nil))},
		{name: "malformed payload JSON", token: signed(header(nil), `{"iss":`+q+`,}`)},
		{name: "trailing data in payload", token: signed(header(nil), claims(nil)+q)},
		{name: "header not an object", token: unsigned(q, claims(nil))},
		{name: "payload not an object", token: signed(header(nil), `[`+q+`]`)},
		{name: "invalid UTF-8 in header", token: unsigned(`{"alg":"RS256","kid":"k1","x":"`+marker+"\xff\"}", claims(nil))},
		{name: "malformed base64 header", token: marker + "!." + b64enc([]byte(claims(nil))) + ".AAAA"},
		{name: "malformed base64 payload", token: b64enc([]byte(header(nil))) + "." + marker + "$.AAAA"},
		{name: "malformed base64 signature", token: strings.TrimSuffix(good, good[strings.LastIndexByte(good, '.')+1:]) + marker},
		{name: "signature of the marker", token: b64enc([]byte(header(nil))) + "." + b64enc([]byte(claims(nil))) + "." + b64enc([]byte(hostile))},
		{name: "JWE shape", token: b64enc([]byte(header(set("enc", hostile)))) + "." + marker + "." + marker + "." + marker + "." + marker},
		{name: "JSON serialisation", token: `{"payload":"` + marker + `","signatures":[]}`},
		{name: "two segments", token: b64enc([]byte(header(nil))) + "." + marker},
		{name: "unsigned", token: b64enc([]byte(header(set("alg", hostile)))) + "." + b64enc([]byte(claims(nil))) + "."},

		// Claims, in tokens signed with the issuer's key.
		{name: "iss", token: signed(header(nil), claims(set("iss", hostile)))},
		{name: "iss near the issuer", token: signed(header(nil), claims(set("iss", iss+"/"+marker)))},
		{name: "iss not a string", token: signed(header(nil), claims(set("iss", []any{hostile})))},
		{name: "aud", token: signed(header(nil), claims(set("aud", hostile)))},
		{name: "aud array", token: signed(header(nil), claims(set("aud", []any{hostile, 1})))},
		{name: "azp", token: signed(header(nil), claims(set("azp", hostile)))},
		{name: "azp not a string", token: signed(header(nil), claims(set("azp", []any{hostile})))},
		{name: "appid", verifier: "v1", token: signed(header(nil), claims(func(c map[string]any) { c["ver"], c["appid"] = "1.0", hostile }))},
		{name: "tid", token: signed(header(nil), claims(set("tid", hostile)))},
		{name: "ver", token: signed(header(nil), claims(set("ver", hostile)))},
		{name: "exp", token: signed(header(nil), claims(set("exp", hostile)))},
		{name: "nbf", token: signed(header(nil), claims(set("nbf", hostile)))},
		{name: "iat", token: signed(header(nil), claims(set("iat", hostile)))},
		{name: "scp", token: signed(header(nil), claims(set("scp", []any{hostile})))},
		{name: "roles", token: signed(header(nil), claims(set("roles", hostile)))},
		{name: "roles with a number", token: signed(header(nil), claims(set("roles", []any{hostile, 1})))},
		{name: "groups", token: signed(header(nil), claims(set("groups", map[string]any{marker: hostile})))},
		{name: "idtyp", token: signed(header(nil), claims(set("idtyp", hostile)))},
		{name: "oid", token: signed(header(nil), claims(set("oid", []any{hostile})))},
		{name: "act", token: signed(header(nil), claims(set("act", hostile)))},
		{name: "act sub", token: signed(header(nil), claims(set("act", map[string]any{"sub": []any{hostile}})))},
		{name: "act iss", token: signed(header(nil), claims(set("act", map[string]any{"sub": "x", "iss": []any{hostile}})))},
		{name: "oidc scope", verifier: "oidc", token: signed(header(nil), claims(set("scope", []any{1, hostile})))},
		{name: "oidc tenant", verifier: "oidc", token: signed(header(nil), claims(set("tid", []any{hostile})))},
		{name: "oidc app", verifier: "oidc", token: signed(header(nil), claims(set("appid", map[string]any{marker: 1})))},
		{name: "oidc exp", verifier: "oidc", token: signed(header(nil), claims(set("exp", hostile)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.verifier
			if name == "" {
				name = "v2"
			}
			_, err := verifiers[name].Verify(bg, tc.token)
			if err == nil {
				t.Fatal("hostile token verified")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify = %v, want an *Error", err)
			}
			wantSafeReason(t, e, tc.leaks...)
			if tc.keep && (e.Err == nil || !strings.Contains(e.Err.Error(), firstLeak(tc.leaks))) {
				t.Errorf("Err = %v, want the value kept for the log", e.Err)
			}
		})
	}
}

func firstLeak(leaks []string) string {
	if len(leaks) > 0 {
		return leaks[0]
	}
	return marker
}

// TestBearerTokenReasonNeverEchoesTheRequest: the same for the
// Authorization header and the query string.
func TestBearerTokenReasonNeverEchoesTheRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		query  string
		values []string
	}{
		{"query token", "access_token=" + url.QueryEscape(hostile), nil},
		{"query token beside a header", "access_token=" + marker, []string{"Bearer " + marker}},
		{"two headers", "", []string{"Bearer " + marker, "Bearer " + hostile}},
		{"other scheme", "", []string{marker + " abc"}},
		{"Basic", "", []string{"Basic " + hostile}},
		{"no space", "", []string{"Bearer" + marker}},
		{"hostile token", "", []string{"Bearer " + hostile}},
		{"two spaces", "", []string{"Bearer  " + marker}},
		{"token with a space", "", []string{"Bearer " + marker + " " + marker}},
		{"empty token", "", []string{"Bearer "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{URL: &url.URL{Path: "/", RawQuery: tc.query}, Header: http.Header{}}
			for _, v := range tc.values {
				r.Header.Add("Authorization", v)
			}
			tok, err := BearerToken(r)
			if err == nil {
				t.Fatalf("BearerToken = %q, nil; want an error", string(tok))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("BearerToken = %v, want an *Error", err)
			}
			wantSafeReason(t, e)
		})
	}
}

// wantSafeReason fails when Check or Reason echoes marker or one of leaks,
// or could not go verbatim into an RFC 6750 error_description.
func wantSafeReason(t *testing.T, e *Error, leaks ...string) {
	t.Helper()
	for _, s := range append([]string{marker}, leaks...) {
		if strings.Contains(e.Reason, s) || strings.Contains(e.Check, s) {
			t.Errorf("check %q, reason %q: echo %q from the request", e.Check, e.Reason, s)
		}
	}
	if e.Check == "" || e.Reason == "" {
		t.Errorf("check %q, reason %q: want both", e.Check, e.Reason)
	}
	desc := e.Check + ": " + e.Reason
	if headerSafe(desc) != desc {
		t.Errorf("description %q is not plain printable ASCII of at most 200 bytes", desc)
	}
}

// challengeRE is an RFC 6750 challenge as Challenge writes it: each value
// a quoted-string of the characters §3 allows, at most 200 of them.
var challengeRE = regexp.MustCompile(`^Bearer realm="gatehouse"(, (resource_metadata|error|error_description)="[\x20\x21\x23-\x5B\x5D-\x7E]{0,200}")*$`)

func TestChallengeEscapesHostileInput(t *testing.T) {
	inputs := []string{
		hostile,
		`", error="none`,
		"\"\r\nSet-Cookie: a=b",
		strings.Repeat(`\"`, 300),
		strings.Repeat("é", 150),
		"\x7f\x80\xff",
		"",
	}
	for _, code := range inputs {
		for _, desc := range inputs {
			for _, meta := range inputs {
				got := Challenge(code, desc, meta)
				if !challengeRE.MatchString(got) {
					t.Fatalf("Challenge(%q, %q, %q) = %q: not a well-formed challenge", code, desc, meta, got)
				}
				if want := strings.Count(got, `="`); want != 1+btoi(code != "")+btoi(desc != "")+btoi(meta != "") {
					t.Fatalf("Challenge(%q, %q, %q) = %q: %d parameters", code, desc, meta, got, want)
				}
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
