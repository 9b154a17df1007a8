package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

const (
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	otherTenant  = "11111111-2222-3333-4444-555555555555"
	testAPI      = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
	testAPIURI   = "api://gatehouse-test"
	testClient   = "0e1b3f7a-2c55-4b1e-9a51-5f2c8d7d1b10"
	testUserOID  = "690222be-ff1a-4d56-abd1-7e4f7d38e474"
	testGroupOne = "0b1c2d3e-0000-4000-8000-000000000001"
)

// keyServer is an issuer's discovery and JWKS endpoints on a real TLS
// server, with keys that tests can add, remove and take offline.
//
// It is not testkit.Issuer, which other packages use, because the key set's
// own tests need what only they need: Entra's multi-tenant shape (a
// discovery document per tenant path, one JWKS for all, keys pinned to a
// tenant by their issuer member), several keys of any type the tests bring
// (also keys the verifier must refuse), and an endpoint that fails, holds
// its answers or counts discovery and JWKS requests apart.
type keyServer struct {
	t       testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	down    atomic.Bool
	fetches atomic.Int64 // JWKS requests
	// discoveries counts discovery requests: every fetch attempt starts
	// with one, even when the JWKS is never reached.
	discoveries atomic.Int64
	// hold, when set before the first request, holds every discovery
	// response until it is closed (or the request is abandoned).
	hold chan struct{}
	// template, when set, is served as the discovery issuer and as each
	// key's Entra `issuer` member.
	template string
	// keyIssuer, when set, overrides the keys' `issuer` member.
	keyIssuer string
}

func newKeyServer(t testing.TB) *keyServer {
	ks := &keyServer{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		ks.discoveries.Add(1)
		if ks.hold != nil {
			select {
			case <-ks.hold:
			case <-r.Context().Done():
				return
			}
		}
		if ks.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss := ks.srv.URL + "/" + r.PathValue("tenant") + "/v2.0"
		if ks.template != "" {
			iss = ks.template
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": ks.srv.URL + "/common/discovery/v2.0/keys"})
	})
	mux.HandleFunc("GET /common/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		if ks.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		ks.mu.Lock()
		defer ks.mu.Unlock()
		var out []map[string]any
		for _, k := range ks.keys {
			b, _ := k.MarshalJSON()
			var m map[string]any
			json.Unmarshal(b, &m)
			if ks.template != "" {
				m["issuer"] = ks.template
			}
			if ks.keyIssuer != "" {
				m["issuer"] = ks.keyIssuer
			}
			out = append(out, m)
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": out})
	})
	ks.srv = httptest.NewTLSServer(mux)
	t.Cleanup(ks.srv.Close)
	return ks
}

func (ks *keyServer) issuer() string { return ks.srv.URL + "/" + testTenant + "/v2.0" }

func (ks *keyServer) addKey(kid string, priv crypto.Signer, alg string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.keys = append(ks.keys, jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"})
}

func (ks *keyServer) removeKey(kid string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for i, k := range ks.keys {
		if k.KeyID == kid {
			ks.keys = append(ks.keys[:i], ks.keys[i+1:]...)
			return
		}
	}
}

// entraConfig is a single-tenant Entra v2.0 issuer served by ks.
func (ks *keyServer) entraConfig() IssuerConfig {
	return IssuerConfig{
		Name:         "test",
		Type:         TypeEntra,
		Issuer:       ks.issuer(),
		DiscoveryURL: ks.issuer() + "/.well-known/openid-configuration",
		Audiences:    []string{testAPI, testAPIURI},
		Algorithms:   []string{"RS256", "ES256"},
	}
}

// testStart is when every test's clock (testkit.Clock) starts.
var testStart = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func (ks *keyServer) verifier(t *testing.T, clock *testkit.Clock, issuers ...IssuerConfig) *Verifier {
	t.Helper()
	if len(issuers) == 0 {
		issuers = []IssuerConfig{ks.entraConfig()}
	}
	v, err := NewVerifier(Config{Issuers: issuers, HTTPClient: ks.srv.Client(), Now: clock.Now})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
	rsaKey2    *rsa.PrivateKey
	ecKey      *ecdsa.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey, *ecdsa.PrivateKey) {
	rsaKeyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, rsaKey2, ecKey
}

// entraClaims is a realistic Entra v2.0 delegated token payload at now.
func entraClaims(iss string, now time.Time) map[string]any {
	groups := []any{}
	for i := 0; i < 10; i++ {
		groups = append(groups, "0b1c2d3e-0000-4000-8000-00000000000"+string(rune('0'+i)))
	}
	return map[string]any{
		"aud": testAPI, "iss": iss,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"aio": "AWQAm/8aAAAA", "azp": testClient, "azpacr": "0",
		"name": "Ada Lovelace", "preferred_username": "ada@contoso.example",
		"oid": testUserOID, "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
		"tid": testTenant, "scp": "access_as_user Functions.Invoke", "roles": []any{"Functions.Reader"},
		"groups": groups, "rh": "0.AAAA", "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0",
	}
}

// sign builds a compact JWS from raw header and payload JSON, signed with
// alg and priv. Raw JSON lets tests send what no well-behaved library would.
func sign(t testing.TB, header, payload string, alg string, priv crypto.Signer) string {
	t.Helper()
	in := b64enc([]byte(header)) + "." + b64enc([]byte(payload))
	sig, err := jwt.GetSigningMethod(alg).Sign(in, priv)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return in + "." + b64enc(sig)
}

func b64enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hdr(alg, kid string, extra ...string) string {
	h := `{"typ":"JWT","alg":"` + alg + `","kid":"` + kid + `"`
	for _, e := range extra {
		h += "," + e
	}
	return h + "}"
}

func wantCheck(t *testing.T, err error, kind ErrorKind, check string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s/%s", kind, check)
	}
	e := AsError(err)
	if e.Kind != kind || e.Check != check {
		t.Fatalf("err = %v (kind %s, check %s), want %s/%s", err, e.Kind, e.Check, kind, check)
	}
	if strings.Contains(e.Reason, "eyJ") {
		t.Fatalf("reason leaks token contents: %q", e.Reason)
	}
}

var bg = context.Background()
