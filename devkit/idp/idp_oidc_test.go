package idp

import (
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// coreos/go-oidc against the IdP: discovery (exact issuer match), the remote
// key set, and ID token verification with nonce.
func TestOIDCProviderVerifiesIDToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := oidc.ClientContext(t.Context(), f.ts.Client())
	provider, err := oidc.NewProvider(ctx, f.srv.Issuer(tenantID))
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	conf := webConfig(f, oidc.ScopeOpenID, "profile", "email")
	conf.Endpoint = provider.Endpoint()
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-0S6_WzA2Mj"))
	code := codeFrom(t, f.signIn(t, authURL, adaOID), webRedirect, "st")
	tok, err := conf.Exchange(f.ctx(t), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: webID, Now: f.clock.Now}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("Verify(id_token): %v", err)
	}
	if idt.Nonce != "n-0S6_WzA2Mj" || idt.Subject != pairwiseSub(tenantID, adaOID, webID) {
		t.Errorf("nonce %q, sub %q", idt.Nonce, idt.Subject)
	}
	var m map[string]any
	if err := idt.Claims(&m); err != nil {
		t.Fatal(err)
	}
	wantClaims(t, m, map[string]any{"oid": adaOID, "tid": tenantID, "name": "Ada Lovelace", "preferred_username": "ada@contoso.example", "ver": "2.0"})

	// Sign-in only: the access token is for Microsoft Graph's stand-in, which
	// no API of this directory accepts.
	at := claimsOf(t, tok.AccessToken)
	wantClaims(t, at, map[string]any{"aud": graphClientID, "ver": "1.0", "scp": "openid profile email"})

	// The same verifier rejects the ID token for another client.
	if _, err := provider.Verifier(&oidc.Config{ClientID: apiID, Now: f.clock.Now}).Verify(ctx, raw); err == nil {
		t.Error("ID token accepted for another client id")
	}
	// go-oidc also verifies v2 access tokens for the API (aud = API client id).
	if _, err := provider.Verifier(&oidc.Config{ClientID: graphClientID, Now: f.clock.Now}).Verify(ctx, tok.AccessToken); err == nil {
		t.Error("a v1 token verified against the v2 issuer")
	}
}
