package mint

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// localVault stands in for KMS or Key Vault in these unit tests: versions
// are in-process private keys, so what is tested is the Issuer's
// publish-ahead and retirement logic, not a vault's protocol (build's and
// e2e's tests sign through the local KMS and Key Vault servers).
type localVault struct {
	mu    sync.Mutex
	keys  map[string]crypto.Signer
	signs atomic.Int64
}

func (v *localVault) add(t *testing.T, version string, ec bool) []byte {
	t.Helper()
	var s crypto.Signer
	var err error
	if ec {
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		v.keys = map[string]crypto.Signer{}
	}
	v.keys[version] = s
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (v *localVault) Signer(version string, pkix []byte) (crypto.Signer, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.keys[version]
	if !ok {
		return nil, errors.New("no such version")
	}
	return countingSigner{s, &v.signs}, nil
}

type countingSigner struct {
	crypto.Signer
	n *atomic.Int64
}

func (c countingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	c.n.Add(1)
	return c.Signer.Sign(r, d, o)
}

type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *testClock) add(d time.Duration) { c.ns.Add(int64(d)) }

func jwksKids(t *testing.T, srv interface{ Client() *http.Client }, url string) map[string]string {
	t.Helper()
	resp, err := srv.Client().Get(url + JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, Alg string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range set.Keys {
		out[k.Kid] = k.Alg
	}
	return out
}

// TestVaultKeyRotation follows one rotation of a vault key: the new version
// is published at once and signs only after PublishAhead; the old one
// stays published until its last token expired; tokens of both verify
// throughout; a restart in the middle keeps the schedule.
func TestVaultKeyRotation(t *testing.T) {
	vault := &localVault{}
	v1 := vault.add(t, "v1", false)
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	dir := t.TempDir()
	cfg := Config{KeyDir: dir, Now: clock.now, Logger: testLogger(t),
		Vault: &Vault{Keys: vault, Version: "v1", Public: v1, PublishAhead: 2 * time.Minute}}
	iss, srv := serveIssuer(t, "/issuer", cfg)
	cfg.URL = iss.URL()
	verifier := func() *authn.Verifier {
		v, err := authn.NewVerifier(authn.Config{
			Issuers:    []authn.IssuerConfig{{Name: "gatehouse", Issuer: iss.URL(), Audiences: []string{"sts.amazonaws.com"}, Algorithms: []string{"RS256", "ES256"}}},
			HTTPClient: srv.Client(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	kidOf := func(tok string) string { h, _ := decodeJWT(t, tok); return h["kid"].(string) }
	mint := func(i *Issuer) string {
		t.Helper()
		tok, err := i.Mint(testWebIdentity(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tok1 := mint(iss)
	kid1 := kidOf(tok1)
	if got := jwksKids(t, srv, iss.URL()); len(got) != 1 || got[kid1] != "RS256" {
		t.Fatalf("JWKS at start = %v, want only %s", got, kid1)
	}
	if _, err := verifier().Verify(context.Background(), tok1); err != nil {
		t.Fatalf("v1 token: %v", err)
	}

	// The vault now names v2 (an ES256 key): published at once, not signing.
	v2 := vault.add(t, "v2", true)
	if err := iss.VaultVersion("v2", v2); err != nil {
		t.Fatal(err)
	}
	kids := jwksKids(t, srv, iss.URL())
	if len(kids) != 2 || kids[kid1] != "RS256" {
		t.Fatalf("JWKS after v2 appeared = %v, want v1 and v2", kids)
	}
	if k := kidOf(mint(iss)); k != kid1 {
		t.Fatalf("v2 signed before the publish-ahead time")
	}
	resp, err := srv.Client().Get(iss.URL() + DiscoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if strings.Join(disc.Algs, ",") != "ES256,RS256" {
		t.Errorf("discovery algorithms = %v, want ES256 and RS256 while both are published", disc.Algs)
	}

	// A restart inside the window: v1 still signs, v2 still waits.
	iss2, err := NewIssuer(Config{URL: iss.URL(), KeyDir: dir, Now: clock.now, Logger: testLogger(t),
		Vault: &Vault{Keys: vault, Version: "v2", Public: v2, PublishAhead: 2 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if k := kidOf(mint(iss2)); k != kid1 {
		t.Fatalf("after a restart in the window the new version signed early")
	}

	clock.add(2*time.Minute + time.Second)
	tok2 := mint(iss)
	kid2 := kidOf(tok2)
	if kid2 == kid1 {
		t.Fatal("v2 does not sign after the publish-ahead time")
	}
	if h, _ := decodeJWT(t, tok2); h["alg"] != "ES256" {
		t.Errorf("v2 token alg = %v, want ES256", h["alg"])
	}
	v := verifier()
	for name, tok := range map[string]string{"v1 token": tok1, "v2 token": tok2} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s after the switch: %v", name, err)
		}
	}
	if kidOf(mint(iss2)) != kid2 {
		t.Error("the restarted issuer did not switch on schedule")
	}

	// Retired v1 stays published while its tokens may be presented.
	clock.add(retiredPublished - time.Minute)
	if _, ok := jwksKids(t, srv, iss.URL())[kid1]; !ok {
		t.Error("v1 left the JWKS before its tokens expired")
	}
	clock.add(2 * time.Minute)
	iss.VaultVersion("v2", v2) // a refresh naming the same version
	if got := jwksKids(t, srv, iss.URL()); len(got) != 1 || got[kid2] != "ES256" {
		t.Errorf("JWKS long after the rotation = %v, want only v2", got)
	}
	if err := iss.Rotate(); err == nil {
		t.Error("Rotate of a vault key succeeded; it must be rotated in the vault")
	}
}

// TestVaultKeyChecks: a version that comes back with another public key,
// and keys of the wrong kind, are refused.
func TestVaultKeyChecks(t *testing.T) {
	vault := &localVault{}
	v1 := vault.add(t, "v1", false)
	iss, err := NewIssuer(Config{URL: "https://gatehouse.example", Logger: testLogger(t), Vault: &Vault{Keys: vault, Version: "v1", Public: v1}})
	if err != nil {
		t.Fatal(err)
	}
	other := vault.add(t, "x", false)
	if err := iss.VaultVersion("v1", other); err == nil {
		t.Error("a known version with another public key was accepted")
	}
	if err := iss.VaultVersion("v3", []byte("junk")); err == nil {
		t.Error("a malformed public key was accepted")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	vault.mu.Lock()
	vault.keys["p384"] = p384
	vault.mu.Unlock()
	der, _ := x509.MarshalPKIXPublicKey(p384.Public())
	if _, err := NewIssuer(Config{URL: "https://gatehouse.example", Logger: testLogger(t), Vault: &Vault{Keys: vault, Version: "p384", Public: der}}); err == nil {
		t.Error("a P-384 key was accepted for ES256")
	}
	if _, err := iss.Mint(testWebIdentity(), time.Now()); err != nil {
		t.Errorf("the issuer stopped signing after refused versions: %v", err)
	}
}

// BenchmarkAssertionCachedVaultKey is BenchmarkAssertionCached with the key
// in a vault (an in-process signer standing in): a cache hit never reaches
// the vault, so the two should match.
func BenchmarkAssertionCachedVaultKey(b *testing.B) {
	for _, mode := range []string{"file", "vault"} {
		b.Run(mode, func(b *testing.B) {
			cfg := Config{URL: "https://gatehouse.example.com/oidc"}
			if mode == "vault" {
				s, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					b.Fatal(err)
				}
				der, _ := x509.MarshalPKIXPublicKey(s.Public())
				v := &localVault{keys: map[string]crypto.Signer{"v1": s}}
				cfg.Vault = &Vault{Keys: v, Version: "v1", Public: der}
			}
			iss, err := NewIssuer(cfg)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			p := assertionPrincipal(now)
			if _, err := iss.Assertion(p, testUpstream, "reports-reader", now); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := iss.Assertion(p, testUpstream, "reports-reader", now); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
