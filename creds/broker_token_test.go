package creds

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/mint"
)

// These tests read the web-identity token broker mode has minted for a
// principal and role: what creds decides goes into it (subject, source
// identity, session tags); how it is signed is mint's.

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newTestIssuer(t testing.TB, url string) *mint.Issuer {
	t.Helper()
	iss, err := mint.NewIssuer(mint.Config{URL: url, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// brokerToken mints the token the Broker sends to STS for p under rc.
func brokerToken(t *testing.T, iss *mint.Issuer, p *authn.Principal, rc Role) string {
	t.Helper()
	r, err := compileRole(rc)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint(webIdentity(p, r, r.tags(p)), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// decodeJWT returns the payload of a compact JWS, decoded without
// verification (mint's tests and TestBrokerModeEndToEnd verify).
func decodeJWT(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload not base64url: %v", err)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBrokerTokenClaims(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	p := testPrincipal()
	role := Role{Name: "reader", ARN: "arn:aws:iam::123456789012:role/gatehouse-reader",
		SessionTags: []string{TagTenant, TagKind, TagAgent, TagApp, TagGroups}, GroupTags: map[string]string{groupOps: "ops", groupAdmins: "admins"}}
	tok := brokerToken(t, iss, p, role)
	c := decodeJWT(t, tok)
	want := map[string]any{
		"iss":                                    "https://gatehouse.example.com/issuer",
		"sub":                                    "role:reader:" + Pseudonym(p),
		"aud":                                    Audience,
		"https://aws.amazon.com/source_identity": Pseudonym(p),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	tags, _ := c["https://aws.amazon.com/tags"].(map[string]any)
	pt, _ := tags["principal_tags"].(map[string]any)
	wantTags := map[string]string{"tenant": testTenant, "kind": "user", "agent": testAgentID, "app": testAppID, "groups": ":admins:ops:"}
	if len(pt) != len(wantTags) {
		t.Errorf("principal_tags = %v, want %v", pt, wantTags)
	}
	for k, v := range wantTags {
		arr, _ := pt[k].([]any)
		if len(arr) != 1 || arr[0] != v {
			t.Errorf("principal_tags[%s] = %v, want [%q] (exactly one string)", k, pt[k], v)
		}
	}
	tk, _ := tags["transitive_tag_keys"].([]any)
	if len(tk) != len(wantTags) {
		t.Errorf("transitive_tag_keys = %v, want every tag key", tk)
	}
	if len(c) != 9 {
		t.Errorf("claims = %v: want exactly iss sub aud iat nbf exp jti and the two AWS claims", c)
	}

	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	assertNoPersonalData(t, "token payload", string(payload))
	assertNoPersonalData(t, "token", tok)
}

func TestBrokerTokenNoTags(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com")
	c := decodeJWT(t, brokerToken(t, iss, testPrincipal(), Role{Name: "reader", ARN: "arn:aws:iam::123456789012:role/r", SessionTags: []string{}}))
	if _, ok := c["https://aws.amazon.com/tags"]; ok {
		t.Errorf("tags claim present with no tags chosen: %v", c)
	}
}

func TestBrokerTokenNoSourceIdentity(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com")
	for _, omit := range []bool{false, true} {
		c := decodeJWT(t, brokerToken(t, iss, testPrincipal(), Role{Name: "fn-a", ARN: "arn:aws:iam::123456789012:role/r", NoSourceIdentity: omit}))
		if _, ok := c["https://aws.amazon.com/source_identity"]; ok == omit {
			t.Errorf("NoSourceIdentity %v: source identity claim present = %v", omit, ok)
		}
	}
}

func TestBrokerTokenRoleNames(t *testing.T) {
	// A role name with ':' or '*' would let one role's subject match
	// another's StringLike, so no such role reaches the issuer.
	for _, name := range []string{"read:er", "read*", "re?d", "", "1reader"} {
		if _, err := compileRole(Role{Name: name, ARN: "arn:aws:iam::123456789012:role/r"}); err == nil {
			t.Errorf("role name %q accepted", name)
		}
	}
}
