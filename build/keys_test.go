package build

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/devkit/keyvault"
	"github.com/gatehouse-dev/gatehouse/mint"
)

// TestIssuerKeyInKeyVault: gatehouse's issuer signs through the local Key
// Vault (the Azure SDK's azkeys, a token of the IdP): an EC P-256 key signs
// ES256 tokens that verify with the JWKS; a new key version appears in the
// JWKS at the next refresh and does not sign before the publish-ahead
// time; an identity without the sign permission cannot start the issuer.
func TestIssuerKeyInKeyVault(t *testing.T) {
	kv := startLocalKeyVault(t, keyvault.Access{Keys: []string{"get", "sign"}})
	first, err := kv.vault.CreateKey("gatehouse-issuer", keyvault.KeySpec{Type: "EC"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse("g.yaml", []byte(`authn:
  issuers:
    - {name: corp, type: oidc, issuer: "https://idp.example", audiences: [api://x]}
creds:
  issuer:
    url: https://gatehouse.example
    signing_key:
      azure_key_vault: {vault: "`+kv.url+`", name: gatehouse-issuer}
secrets:
  azure:
    ca_file: `+kv.caFile+`
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	s, err := NewSecrets(ctx, f, Options{Logger: quiet}, &SecretClients{Azure: kv.credential(kvClientID, "dev-only-gatehouse")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	o := Options{Logger: quiet, Secrets: s, StateDir: t.TempDir()}
	iss, err := Issuer(f, "https://gatehouse.example", o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.Handler())
	defer srv.Close()
	jwks := func() jose.JSONWebKeySet {
		resp, err := http.Get(srv.URL + mint.JWKSPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		return set
	}
	mintAndVerify := func() string {
		t.Helper()
		tok, err := iss.Mint(mint.WebIdentity{Audience: "sts.amazonaws.com", Subject: "role:reader:p1:x"}, time.Now())
		if err != nil {
			t.Fatalf("Mint through Key Vault: %v", err)
		}
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		kid := jws.Signatures[0].Header.KeyID
		set := jwks()
		keys := set.Key(kid)
		if len(keys) != 1 {
			t.Fatalf("kid %s is not published", kid)
		}
		if _, err := jws.Verify(keys[0]); err != nil {
			t.Fatalf("the token does not verify with the published key: %v", err)
		}
		return jws.Signatures[0].Header.Algorithm
	}
	if alg := mintAndVerify(); alg != "ES256" {
		t.Errorf("alg = %s, want ES256 for a P-256 key", alg)
	}
	firstKid := jwks().Keys[0].KeyID

	// A new version (RSA this time): published at the next refresh, not
	// signing yet.
	second, err := kv.vault.CreateKey("gatehouse-issuer", keyvault.KeySpec{Type: "RSA"})
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("CreateKey did not add a version")
	}
	if err := s.Set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if set := jwks(); len(set.Keys) != 2 {
		t.Fatalf("JWKS after the new version: %d keys, want 2", len(set.Keys))
	}
	if alg := mintAndVerify(); alg != "ES256" {
		t.Errorf("the new version signed before the publish-ahead time (alg %s)", alg)
	}
	if set := jwks(); set.Key(firstKid) == nil {
		t.Error("the signing version left the JWKS")
	}

	// Without the sign permission the key reads, but signing fails: the
	// issuer is not usable, and says why.
	deniedKV := startLocalKeyVault(t, keyvault.Access{Keys: []string{"get"}})
	if _, err := deniedKV.vault.CreateKey("gatehouse-issuer", keyvault.KeySpec{Type: "EC"}); err != nil {
		t.Fatal(err)
	}
	f2, _ := config.Parse("g.yaml", []byte(strings.ReplaceAll(string(mustMarshal(t, f)), kv.url, deniedKV.url)))
	f2.Secrets.Azure.CAFile = deniedKV.caFile
	s2, err := NewSecrets(ctx, f2, Options{Logger: quiet}, &SecretClients{Azure: deniedKV.credential(kvClientID, "dev-only-gatehouse")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Set.Load(ctx); err != nil {
		t.Fatalf("reading the public key with get: %v", err)
	}
	iss2, err := Issuer(f2, "https://gatehouse.example", Options{Logger: quiet, Secrets: s2, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss2.Mint(mint.WebIdentity{Audience: "sts.amazonaws.com", Subject: "s"}, time.Now()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("signing without the sign permission: %v, want a 403", err)
	}
}

func mustMarshal(t *testing.T, f *config.File) []byte {
	t.Helper()
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
