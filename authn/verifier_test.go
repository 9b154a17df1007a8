package authn

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func TestVerifyEntraV2Token(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	c := entraClaims(ks.issuer(), clock.Now())
	c["_claim_names"] = nil
	delete(c, "_claim_names")
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, c), "RS256", k1)

	p, err := v.Verify(bg, tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != testUserOID || p.Tenant != testTenant || p.Kind != KindUser || p.App != testClient {
		t.Errorf("principal = %+v", p)
	}
	if len(p.Groups) != 10 || p.GroupsOverage || !p.HasRole("Functions.Reader") || !p.HasScope("Functions.Invoke") {
		t.Errorf("groups/roles/scopes = %v %v %v %v", p.Groups, p.GroupsOverage, p.Roles, p.Scopes)
	}
	if p.Agent() != testClient || p.TokenID != "fqiBqXLPj0eQa82S-IYFAA" || p.TokenVersion != "2.0" {
		t.Errorf("agent %q token id %q version %q", p.Agent(), p.TokenID, p.TokenVersion)
	}
	// A second call is a cache hit and returns the same principal.
	p2, err := v.Verify(bg, tok)
	if err != nil || p2 != p {
		t.Fatalf("cached Verify = %p, %v; want %p", p2, err, p)
	}
	// The cache does not outlive the token.
	clock.Add(time.Hour + 2*time.Minute)
	_, err = v.Verify(bg, tok)
	wantCheck(t, err, InvalidToken, CheckExpiry)
}

// TestVerifyHostileTokens: each rule of SECURITY.md and the JWT checklist,
// one token that breaks it, and the check it must fail.
func TestVerifyHostileTokens(t *testing.T) {
	ks := newKeyServer(t)
	k1, k2, ec := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	ks.addKey("ec1", ec, "ES256")
	clock := testkit.NewClock(testStart)
	now := clock.Now()
	iss := ks.issuer()
	claims := func(edit func(map[string]any)) string {
		c := entraClaims(iss, now)
		if edit != nil {
			edit(c)
		}
		return mustJSON(t, c)
	}
	good := sign(t, hdr("RS256", "k1"), claims(nil), "RS256", k1)
	goodParts := strings.Split(good, ".")
	pubDER := k1.PublicKey.N.Bytes()

	hmacWithPublicKey := func() string {
		in := b64enc([]byte(hdr("HS256", "k1"))) + "." + goodParts[1]
		sig, _ := jwt.SigningMethodHS256.Sign(in, pubDER)
		return in + "." + b64enc(sig)
	}
	zerosES256 := func() string {
		in := b64enc([]byte(hdr("ES256", "ec1"))) + "." + goodParts[1]
		return in + "." + b64enc(make([]byte, 64))
	}
	derES256 := func() string {
		in := b64enc([]byte(hdr("ES256", "ec1"))) + "." + goodParts[1]
		h := jwt.SigningMethodES256.Hash.New()
		h.Write([]byte(in))
		der, _ := ecdsa.SignASN1(rand.Reader, ec, h.Sum(nil))
		return in + "." + b64enc(der)
	}
	tamper := func() string {
		p, _ := base64.RawURLEncoding.DecodeString(goodParts[1])
		p2 := strings.Replace(string(p), `"Functions.Reader"`, `"Functions.Admin!"`, 1)
		return goodParts[0] + "." + b64enc([]byte(p2)) + "." + goodParts[2]
	}
	// A payload whose encoding ends in a partial group, so it has unused
	// trailing bits to flip.
	padded := claims(func(c map[string]any) { c["x"] = "" })
	for len(padded)%3 == 0 {
		padded = strings.Replace(padded, `"x":"`, `"x":"x`, 1)
	}
	goodPadded := strings.Split(withPayloadFn(t, k1, padded), ".")
	nonCanonical := func(part int) string {
		parts := append([]string(nil), goodPadded...)
		// Flip unused trailing bits of the last base64 character.
		s := parts[part]
		last := s[len(s)-1]
		idx := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
		parts[part] = s[:len(s)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[idx^1])
		return strings.Join(parts, ".")
	}
	withPayload := func(payload string) string { return sign(t, hdr("RS256", "k1"), payload, "RS256", k1) }
	withHeader := func(h string) string { return sign(t, h, claims(nil), "RS256", k1) }

	tests := []struct {
		name  string
		token func() string
		kind  ErrorKind
		check string
	}{
		{"alg none", func() string { return b64enc([]byte(`{"alg":"none","kid":"k1"}`)) + "." + goodParts[1] + "." }, InvalidToken, CheckSignature},
		{"alg none with a signature", func() string { return b64enc([]byte(`{"alg":"none","kid":"k1"}`)) + "." + goodParts[1] + ".AAAA" }, InvalidToken, CheckAlg},
		{"alg NoNe", func() string { return b64enc([]byte(`{"alg":"NoNe","kid":"k1"}`)) + "." + goodParts[1] + ".AAAA" }, InvalidToken, CheckAlg},
		{"alg NONE", func() string { return b64enc([]byte(`{"alg":"NONE","kid":"k1"}`)) + "." + goodParts[1] + ".AAAA" }, InvalidToken, CheckAlg},
		{"HMAC signed with the RSA public key", hmacWithPublicKey, InvalidToken, CheckAlg},
		{"our own key with the IdP's kid", func() string { return sign(t, hdr("RS256", "k1"), claims(nil), "RS256", k2) }, InvalidToken, CheckSignature},
		{"stripped signature", func() string { return goodParts[0] + "." + goodParts[1] + "." }, InvalidToken, CheckSignature},
		{"two segments", func() string { return goodParts[0] + "." + goodParts[1] }, InvalidToken, CheckFormat},
		{"JWE five segments", func() string { return good + ".AAAA.BBBB" }, InvalidToken, CheckFormat},
		{"expired", func() string {
			return withPayload(claims(func(c map[string]any) {
				c["iat"], c["nbf"], c["exp"] = now.Add(-3*time.Hour).Unix(), now.Add(-3*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
			}))
		}, InvalidToken, CheckExpiry},
		{"expired within leeway is fine, past it not", func() string {
			return withPayload(claims(func(c map[string]any) { c["exp"] = now.Add(-61 * time.Second).Unix() }))
		}, InvalidToken, CheckExpiry},
		{"not yet valid", func() string {
			return withPayload(claims(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))
		}, InvalidToken, CheckNotBefore},
		{"issued in the future", func() string {
			return withPayload(claims(func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix(); c["nbf"] = now.Unix() }))
		}, InvalidToken, CheckIssuedAt},
		{"missing exp", func() string { return withPayload(claims(func(c map[string]any) { delete(c, "exp") })) }, InvalidToken, CheckExpiry},
		{"exp as a string", func() string { return withPayload(claims(func(c map[string]any) { c["exp"] = "9999999999" })) }, InvalidToken, CheckExpiry},
		{"lifetime too long", func() string {
			return withPayload(claims(func(c map[string]any) { c["exp"] = now.Add(48 * time.Hour).Unix() }))
		}, InvalidToken, CheckLifetime},
		{"wrong issuer", func() string {
			return withPayload(claims(func(c map[string]any) { c["iss"] = "https://evil.example/" + testTenant + "/v2.0" }))
		}, InvalidToken, CheckIssuer},
		{"missing issuer", func() string { return withPayload(claims(func(c map[string]any) { delete(c, "iss") })) }, InvalidToken, CheckIssuer},
		{"wrong audience", func() string {
			return withPayload(claims(func(c map[string]any) { c["aud"] = "00000003-0000-0000-c000-000000000000" }))
		}, InvalidToken, CheckAudience},
		{"audience array without us", func() string {
			return withPayload(claims(func(c map[string]any) { c["aud"] = []any{"a", "b"} }))
		}, InvalidToken, CheckAudience},
		{"other tenant in tid", func() string {
			return withPayload(claims(func(c map[string]any) { c["tid"] = otherTenant }))
		}, InvalidToken, CheckTenant},
		{"tid not a GUID", func() string { return withPayload(claims(func(c map[string]any) { c["tid"] = "contoso" })) }, InvalidToken, CheckTenant},
		{"v1 token where only v2 is accepted", func() string {
			return withPayload(claims(func(c map[string]any) { c["ver"] = "1.0" }))
		}, InvalidToken, CheckVersion},
		{"no calling app (an ID token)", func() string {
			return withPayload(claims(func(c map[string]any) { delete(c, "azp") }))
		}, InvalidToken, CheckApp},
		{"tampered payload", tamper, InvalidToken, CheckSignature},
		{"non-canonical base64 in payload", func() string { return nonCanonical(1) }, InvalidToken, CheckFormat},
		{"non-canonical base64 in signature", func() string { return nonCanonical(2) }, InvalidToken, CheckFormat},
		{"padded base64", func() string { return goodParts[0] + "=." + goodParts[1] + "." + goodParts[2] }, InvalidToken, CheckFormat},
		{"standard base64 alphabet", func() string {
			return strings.NewReplacer("-", "+", "_", "/").Replace(goodParts[0]+"."+goodParts[1]+"."+goodParts[2]) + "+"
		}, InvalidToken, CheckFormat},
		{"malformed JSON payload", func() string { return withPayload(`{"iss":`) }, InvalidToken, CheckFormat},
		{"payload is an array", func() string { return withPayload(`["iss"]`) }, InvalidToken, CheckFormat},
		{"payload is null", func() string { return withPayload(`null`) }, InvalidToken, CheckFormat},
		{"trailing data after payload", func() string { return withPayload(claims(nil) + `{}`) }, InvalidToken, CheckFormat},
		{"duplicate claim", func() string {
			c := claims(nil)
			return withPayload(c[:len(c)-1] + `,"aud":"` + testAPI + `"}`)
		}, InvalidToken, CheckFormat},
		{"duplicate claim in case variant", func() string {
			c := claims(nil)
			return withPayload(c[:len(c)-1] + `,"AUD":"` + testAPI + `"}`)
		}, InvalidToken, CheckFormat},
		{"case-variant exp alone", func() string {
			return withPayload(claims(func(c map[string]any) { c["Exp"] = c["exp"]; delete(c, "exp") }))
		}, InvalidToken, CheckFormat},
		{"duplicate header alg", func() string { return withHeader(`{"alg":"none","alg":"RS256","kid":"k1"}`) }, InvalidToken, CheckFormat},
		{"case-variant header Alg", func() string { return withHeader(`{"Alg":"none","alg":"RS256","kid":"k1"}`) }, InvalidToken, CheckFormat},
		{"invalid UTF-8 in payload", func() string {
			c := claims(nil)
			return withPayload(c[:len(c)-1] + `,"name2":"` + "\xff\xfe" + `"}`)
		}, InvalidToken, CheckFormat},
		{"invalid UTF-8 in header", func() string { return withHeader("{\"alg\":\"RS256\",\"kid\":\"k1\",\"x\":\"\xc3\x28\"}") }, InvalidToken, CheckFormat},
		{"oversized token", func() string { return strings.Repeat("a", 17<<10) }, InvalidToken, CheckSize},
		{"jku header", func() string { return withHeader(hdr("RS256", "k1", `"jku":"https://evil.example/keys"`)) }, InvalidToken, CheckHeader},
		{"x5u header", func() string { return withHeader(hdr("RS256", "k1", `"x5u":"https://evil.example/cert"`)) }, InvalidToken, CheckHeader},
		{"jwk header", func() string { return withHeader(hdr("RS256", "k1", `"jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}`)) }, InvalidToken, CheckHeader},
		{"x5c header", func() string { return withHeader(hdr("RS256", "k1", `"x5c":["MIIB"]`)) }, InvalidToken, CheckHeader},
		{"zip header", func() string { return withHeader(hdr("RS256", "k1", `"zip":"DEF"`)) }, InvalidToken, CheckHeader},
		{"b64 false", func() string { return withHeader(hdr("RS256", "k1", `"b64":false`)) }, InvalidToken, CheckHeader},
		{"nested JWT", func() string { return withHeader(hdr("RS256", "k1", `"cty":"JWT"`)) }, InvalidToken, CheckHeader},
		{"unknown crit", func() string { return withHeader(hdr("RS256", "k1", `"crit":["exp"],"exp":1`)) }, InvalidToken, CheckCrit},
		{"missing kid", func() string { return withHeader(`{"alg":"RS256","typ":"JWT"}`) }, InvalidToken, CheckKid},
		{"kid of no key", func() string { return sign(t, hdr("RS256", "nope"), claims(nil), "RS256", k1) }, InvalidToken, CheckKid},
		{"alg not allowed for the issuer", func() string { return sign(t, hdr("RS512", "k1"), claims(nil), "RS512", k1) }, InvalidToken, CheckAlg},
		{"RSA key used with ES256", func() string { return sign(t, hdr("ES256", "k1"), claims(nil), "ES256", ec) }, InvalidToken, CheckAlg},
		{"ES256 signature of zeros", zerosES256, InvalidToken, CheckSignature},
		{"ES256 signature in DER form", derES256, InvalidToken, CheckSignature},
		{"empty token", func() string { return "" }, InvalidRequest, CheckRequest},
		{"app-only token with scp", func() string {
			return withPayload(claims(func(c map[string]any) { c["idtyp"] = "app" }))
		}, InvalidToken, CheckClaims},
		{"roles not an array", func() string {
			return withPayload(claims(func(c map[string]any) { c["roles"] = "Admin" }))
		}, InvalidToken, CheckClaims},
		{"act without sub", func() string {
			return withPayload(claims(func(c map[string]any) { c["act"] = map[string]any{"iss": "x"} }))
		}, InvalidToken, CheckActor},
	}
	v := ks.verifier(t, clock)
	if _, err := v.Verify(bg, good); err != nil {
		t.Fatalf("good token: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(bg, tc.token())
			wantCheck(t, err, tc.kind, tc.check)
		})
	}
}

func TestVerifyES256(t *testing.T) {
	ks := newKeyServer(t)
	_, _, ec := testKeys(t)
	ks.addKey("ec1", ec, "ES256")
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	tok := sign(t, hdr("ES256", "ec1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "ES256", ec)
	if _, err := v.Verify(bg, tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyTypPolicy(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	cfg := ks.entraConfig()
	cfg.Types = []string{"at+jwt"}
	v := ks.verifier(t, clock, cfg)
	payload := mustJSON(t, entraClaims(ks.issuer(), clock.Now()))
	_, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), payload, "RS256", k1))
	wantCheck(t, err, InvalidToken, CheckTyp)
	if _, err := v.Verify(bg, sign(t, `{"typ":"application/at+jwt","alg":"RS256","kid":"k1"}`, payload, "RS256", k1)); err != nil {
		t.Fatalf("at+jwt token: %v", err)
	}
}

func TestVerifyAllowedApps(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	cfg := ks.entraConfig()
	cfg.AllowedApps = []string{"99999999-0000-0000-0000-000000000000"}
	v := ks.verifier(t, clock, cfg)
	_, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1))
	wantCheck(t, err, InvalidToken, CheckApp)
}

func TestNewVerifierRefusesUnsafeConfig(t *testing.T) {
	base := IssuerConfig{Name: "x", Type: TypeOIDC, Issuer: "https://issuer.example", Audiences: []string{"api"}}
	tests := []struct {
		name string
		edit func(*IssuerConfig)
		want string
	}{
		{"alg none", func(c *IssuerConfig) { c.Algorithms = []string{"none"} }, "not allowed"},
		{"HMAC", func(c *IssuerConfig) { c.Algorithms = []string{"HS256"} }, "not allowed"},
		{"no audience", func(c *IssuerConfig) { c.Audiences = nil }, "no audiences"},
		{"plain http issuer", func(c *IssuerConfig) { c.Issuer = "http://issuer.example" }, "https only"},
		{"template on oidc", func(c *IssuerConfig) { c.Issuer = "https://x/{tenantid}/v2.0" }, "only entra"},
		{"template without tenants", func(c *IssuerConfig) {
			c.Type, c.Issuer, c.DiscoveryURL = TypeEntra, "https://x/{tenantid}/v2.0", "https://x/organizations/v2.0/.well-known/openid-configuration"
		}, "allow-list"},
		{"bad version", func(c *IssuerConfig) { c.Type, c.TokenVersion = TypeEntra, "3.0" }, "token version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			_, err := NewVerifier(Config{Issuers: []IssuerConfig{c}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewVerifier = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func withPayloadFn(t testing.TB, k *rsa.PrivateKey, payload string) string {
	return sign(t, hdr("RS256", "k1"), payload, "RS256", k)
}
