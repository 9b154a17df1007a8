package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// KeyID is the kid of every Issuer's signing key, in its JWKS and in the
// header of the tokens Sign makes.
const KeyID = "k1"

// IssuerConfig configures NewIssuer. The zero value is an RS256 issuer at
// the root of its server.
type IssuerConfig struct {
	// Path is the issuer's path on its server, such as "/gatehouse": the
	// issuer identifier is the server's URL followed by Path, and the
	// discovery document and JWKS are served under it. "" means the root.
	// A Path must start with "/" and not end with one.
	Path string
	// Alg is the signing algorithm: "RS256" (an RSA 2048 key) or "ES256" (a
	// P-256 key). "" means "RS256".
	Alg string
}

// Issuer is an OpenID issuer for tests, on an httptest TLS server on
// 127.0.0.1 that NewIssuer's t closes. It serves, for GET only:
//
//	URL() + "/.well-known/openid-configuration"  issuer, jwks_uri, id_token_signing_alg_values_supported
//	URL() + "/jwks"                               the public key: kid KeyID, alg, use "sig"
//
// and 404 for any other path (405 for another method). Its single key is new for each Issuer, so the
// tokens of one Issuer never verify against another's keys. It does not
// check what the tokens it signs claim: that is the test's to choose.
type Issuer struct {
	srv    *httptest.Server
	url    string
	method jwt.SigningMethod
	key    crypto.Signer
}

// NewIssuer starts an Issuer; t's Cleanup stops it. A bad IssuerConfig
// fails t.
func NewIssuer(t testing.TB, cfg IssuerConfig) *Issuer {
	t.Helper()
	if cfg.Path != "" && (!strings.HasPrefix(cfg.Path, "/") || strings.HasSuffix(cfg.Path, "/")) {
		t.Fatalf("testkit: issuer path %q must start with / and not end with one", cfg.Path)
	}
	iss := &Issuer{}
	var err error
	switch cfg.Alg {
	case "", "RS256":
		cfg.Alg, iss.method = "RS256", jwt.SigningMethodRS256
		iss.key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		iss.method = jwt.SigningMethodES256
		iss.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("testkit: issuer algorithm %q: want RS256 or ES256", cfg.Alg)
	}
	if err != nil {
		t.Fatalf("testkit: issuer key: %v", err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: iss.key.Public(), KeyID: KeyID, Algorithm: cfg.Alg, Use: "sig"},
	}})
	if err != nil {
		t.Fatalf("testkit: issuer JWKS: %v", err)
	}

	mux := http.NewServeMux()
	iss.srv = httptest.NewUnstartedServer(mux)
	// httptest picks 127.0.0.1 unless told otherwise by a flag; a test
	// issuer is never reachable from elsewhere, whatever the flags.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: issuer listener: %v", err)
	}
	iss.srv.Listener.Close()
	iss.srv.Listener = l
	iss.srv.StartTLS()
	t.Cleanup(iss.srv.Close)
	iss.url = iss.srv.URL + cfg.Path

	discovery, err := json.Marshal(map[string]any{
		"issuer":                                iss.url,
		"jwks_uri":                              iss.url + "/jwks",
		"id_token_signing_alg_values_supported": []string{cfg.Alg},
	})
	if err != nil {
		t.Fatalf("testkit: issuer discovery document: %v", err)
	}
	serve := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}
	}
	mux.Handle("GET "+cfg.Path+"/.well-known/openid-configuration", serve(discovery))
	mux.Handle("GET "+cfg.Path+"/jwks", serve(jwks))
	return iss
}

// URL returns the issuer identifier: the `iss` its tokens should carry and
// the base of its discovery document (https://127.0.0.1:PORT + Path).
func (iss *Issuer) URL() string { return iss.url }

// Close stops the issuer's server, as when an identity provider goes
// down: from then on its discovery document and JWKS cannot be fetched,
// while Sign still makes tokens with its key. NewIssuer's t closes it
// anyway; closing it twice is harmless.
func (iss *Issuer) Close() { iss.srv.Close() }

// Client returns an HTTP client that trusts the issuer's TLS certificate,
// for the HTTPClient field of the verifier's Config.
func (iss *Issuer) Client() *http.Client { return iss.srv.Client() }

// Sign returns claims as a compact JWS signed with the issuer's key, with
// the header {"alg": Alg, "kid": KeyID, "typ": "JWT"}.
//
// Sign panics if claims cannot be encoded as JSON: that is a mistake in the
// test, and Sign may be called from goroutines the test does not run on
// (such as a credentials callback), where t.Fatal must not be called.
func (iss *Issuer) Sign(claims map[string]any) string { return iss.SignHeader(nil, claims) }

// SignHeader is Sign with header members set, replaced or, for a nil
// value, removed: {"kid": "k2"} names a key the issuer never published,
// {"typ": "at+jwt"} marks an access token. The signature is always the
// issuer's key's, made with the issuer's algorithm, whatever "alg" says.
func (iss *Issuer) SignHeader(header, claims map[string]any) string {
	tok := jwt.NewWithClaims(iss.method, jwt.MapClaims(claims))
	tok.Header["kid"] = KeyID
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(iss.key)
	if err != nil {
		panic("testkit: signing a token: " + err.Error())
	}
	return s
}
