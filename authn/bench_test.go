package authn

// Benchmarks for the library choice of the JWT verification step (see
// docs/benchmarks.md): one realistic Entra v2.0 access token, RS256 and
// ES256, verified by a hand-rolled floor, by golang-jwt v5, go-jose v4 and
// lestrrat-go/jwx v3 with their own validation options, and by the
// gatehouse Verifier with and without its verified-token cache.
//
// Every benchmark first checks that the good token passes and that a
// tampered, a wrongly addressed, a foreign and an expired token fail, so
// none of them measures a no-op.
//
//	go test -run='^$' -bench=. -benchmem -count=5 ./authn/

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

// The real Entra v2.0 issuer shape, so that the token has the size of a
// production token whatever port the test key server listens on.
const benchIssuer = "https://login.microsoftonline.com/" + testTenant + "/v2.0"

// benchLeeway is the clock skew every implementation allows, as the
// Verifier's default.
const benchLeeway = time.Minute

// benchAlg is one signature algorithm under test, with its token and the
// tokens that must be rejected.
type benchAlg struct {
	name string // "RS256" or "ES256"
	kid  string
	priv crypto.Signer
	pub  crypto.PublicKey
	good string
	bad  map[string]string // what is wrong with it -> token
}

// benchFixture is shared by all benchmarks: keys, a fixed clock (the token
// never expires during a run) and the tokens.
type benchFixture struct {
	clock *fakeClock
	now   time.Time
	algs  []*benchAlg
}

func newBenchFixture(b testing.TB) *benchFixture {
	b.Helper()
	rsaPriv, _, ecPriv := testKeys(b)
	clock := newClock()
	f := &benchFixture{clock: clock, now: clock.Now()}
	for _, a := range []*benchAlg{
		{name: "RS256", kid: "CNv0OI3RwqlHFEVnaoMAshCH2XE", priv: rsaPriv, pub: &rsaPriv.PublicKey},
		{name: "ES256", kid: "Ec3bYqZ1oVf9kW2nHs7tLd0pQx4", priv: ecPriv, pub: &ecPriv.PublicKey},
	} {
		claims := func(edit func(map[string]any)) string {
			c := entraClaims(benchIssuer, f.now)
			if edit != nil {
				edit(c)
			}
			return mustJSON(b, c)
		}
		h := hdr(a.name, a.kid, `"x5t":"`+a.kid+`"`) // Entra sends x5t = kid
		a.good = sign(b, h, claims(nil), a.name, a.priv)
		parts := strings.Split(a.good, ".")
		forged := b64enc([]byte(claims(func(c map[string]any) { c["oid"] = "00000000-0000-0000-0000-000000000000" })))
		a.bad = map[string]string{
			"tampered payload": parts[0] + "." + forged + "." + parts[2],
			"tampered signature": parts[0] + "." + parts[1] + "." +
				b64enc(func() []byte { s, _ := b64.DecodeString(parts[2]); s[len(s)/2] ^= 1; return s }()),
			"other audience": sign(b, h, claims(func(c map[string]any) { c["aud"] = testClient }), a.name, a.priv),
			"other issuer": sign(b, h, claims(func(c map[string]any) {
				c["iss"] = "https://login.microsoftonline.com/" + otherTenant + "/v2.0"
			}), a.name, a.priv),
			"expired": sign(b, h, claims(func(c map[string]any) {
				past := f.now.Add(-3 * time.Hour)
				c["iat"], c["nbf"], c["exp"] = past.Unix(), past.Unix(), past.Add(time.Hour).Unix()
			}), a.name, a.priv),
		}
		f.algs = append(f.algs, a)
	}
	return f
}

// run runs one sub-benchmark per algorithm. mk builds the verification
// function once per algorithm (parsers, options and keys are set up outside
// the timed loop, as a server would); the good token must pass and every bad
// one fail before anything is timed.
func (f *benchFixture) run(b *testing.B, mk func(b *testing.B, a *benchAlg) func(token string) error) {
	for _, a := range f.algs {
		b.Run(a.name, func(b *testing.B) {
			verify := mk(b, a)
			if err := verify(a.good); err != nil {
				b.Fatalf("good %s token rejected: %v", a.name, err)
			}
			for what, tok := range a.bad {
				if err := verify(tok); err == nil {
					b.Fatalf("%s token with %s accepted: the benchmark would measure a no-op", a.name, what)
				}
			}
			tok := a.good
			b.ReportAllocs()
			for b.Loop() {
				if err := verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBenchTokenSize pins the token the benchmarks use to the size of a
// realistic Entra token (about 1.9 KB for RS256).
func TestBenchTokenSize(t *testing.T) {
	f := newBenchFixture(t)
	for _, a := range f.algs {
		t.Logf("%s token: %d bytes", a.name, len(a.good))
	}
	if n := len(f.algs[0].good); n < 1700 || n > 2100 {
		t.Errorf("RS256 token is %d bytes, want about 1.9 KB", n)
	}
}

// Floor: split, base64url, encoding/json into a struct of the standard
// claims, the signature check of the standard library, and exp/nbf/iss/aud.
// No strictness at all: the cost below which no verifier can go.

type floorHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type floorClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Nbf int64  `json:"nbf"`
	Iat int64  `json:"iat"`
}

var errFloor = errors.New("floor: rejected")

func floorVerify(raw, alg string, pub crypto.PublicKey, now time.Time) error {
	i, j := strings.IndexByte(raw, '.'), strings.LastIndexByte(raw, '.')
	if i < 0 || i == j {
		return errFloor
	}
	hb, err := base64.RawURLEncoding.DecodeString(raw[:i])
	if err != nil {
		return err
	}
	var h floorHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return err
	}
	if h.Alg != alg {
		return errFloor
	}
	pb, err := base64.RawURLEncoding.DecodeString(raw[i+1 : j])
	if err != nil {
		return err
	}
	var c floorClaims
	if err := json.Unmarshal(pb, &c); err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.DecodeString(raw[j+1:])
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(raw[:j]))
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			return err
		}
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return errFloor
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k, digest[:], r, s) {
			return errFloor
		}
	default:
		return errFloor
	}
	if c.Exp == 0 || !now.Before(time.Unix(c.Exp, 0).Add(benchLeeway)) {
		return errFloor
	}
	if now.Add(benchLeeway).Before(time.Unix(c.Nbf, 0)) {
		return errFloor
	}
	if c.Iss != benchIssuer || c.Aud != testAPI {
		return errFloor
	}
	return nil
}

func BenchmarkFloor(b *testing.B) {
	f := newBenchFixture(b)
	f.run(b, func(b *testing.B, a *benchAlg) func(string) error {
		return func(tok string) error { return floorVerify(tok, a.name, a.pub, f.now) }
	})
}

func BenchmarkGolangJWT(b *testing.B) {
	f := newBenchFixture(b)
	f.run(b, func(b *testing.B, a *benchAlg) func(string) error {
		opts := []jwt.ParserOption{
			jwt.WithValidMethods([]string{a.name}),
			jwt.WithIssuer(benchIssuer),
			jwt.WithAudience(testAPI),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(benchLeeway),
			jwt.WithTimeFunc(f.clock.Now),
		}
		keyfunc := func(*jwt.Token) (any, error) { return a.pub, nil }
		return func(tok string) error {
			_, err := jwt.Parse(tok, keyfunc, opts...)
			return err
		}
	})
}

func BenchmarkGoJose(b *testing.B) {
	f := newBenchFixture(b)
	f.run(b, func(b *testing.B, a *benchAlg) func(string) error {
		algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(a.name)}
		want := josejwt.Expected{Issuer: benchIssuer, AnyAudience: josejwt.Audience{testAPI}}
		return func(tok string) error {
			t, err := josejwt.ParseSigned(tok, algs)
			if err != nil {
				return err
			}
			var c josejwt.Claims
			if err := t.Claims(a.pub, &c); err != nil {
				return err
			}
			if c.Expiry == nil { // go-jose accepts a token without exp
				return errors.New("no exp")
			}
			return c.ValidateWithLeeway(want.WithTime(f.clock.Now()), benchLeeway)
		}
	})
}

func BenchmarkJWX(b *testing.B) {
	f := newBenchFixture(b)
	f.run(b, func(b *testing.B, a *benchAlg) func(string) error {
		alg, ok := jwa.LookupSignatureAlgorithm(a.name)
		if !ok {
			b.Fatalf("jwx: no algorithm %s", a.name)
		}
		opts := []jwxjwt.ParseOption{
			jwxjwt.WithKey(alg, a.pub), // jwt's wrapper of jws.WithKey
			jwxjwt.WithValidate(true),
			jwxjwt.WithIssuer(benchIssuer),
			jwxjwt.WithAudience(testAPI),
			jwxjwt.WithRequiredClaim(jwxjwt.ExpirationKey),
			jwxjwt.WithAcceptableSkew(benchLeeway),
			jwxjwt.WithClock(jwxjwt.ClockFunc(f.clock.Now)),
		}
		return func(tok string) error {
			_, err := jwxjwt.Parse([]byte(tok), opts...)
			return err
		}
	})
}

// benchVerifier is a gatehouse Verifier for benchIssuer whose keys are
// served by a local key server and already loaded.
func (f *benchFixture) verifier(b *testing.B, cacheEntries int) *Verifier {
	b.Helper()
	ks := newKeyServer(b)
	for _, a := range f.algs {
		ks.addKey(a.kid, a.priv, a.name)
	}
	v, err := NewVerifier(Config{
		Issuers: []IssuerConfig{{
			Name:       "bench",
			Type:       TypeEntra,
			Issuer:     benchIssuer,
			JWKSURL:    ks.srv.URL + "/common/discovery/v2.0/keys",
			Audiences:  []string{testAPI, testAPIURI},
			Algorithms: []string{"RS256", "ES256"},
		}},
		CacheEntries: cacheEntries,
		HTTPClient:   ks.srv.Client(),
		Now:          f.clock.Now,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Refresh(bg); err != nil {
		b.Fatal(err)
	}
	return v
}

func BenchmarkVerifierUncached(b *testing.B) {
	f := newBenchFixture(b)
	v := f.verifier(b, -1)
	f.run(b, func(b *testing.B, a *benchAlg) func(string) error {
		return func(tok string) error {
			_, err := v.Verify(bg, tok)
			return err
		}
	})
}

func BenchmarkVerifierCacheHit(b *testing.B) {
	f := newBenchFixture(b)
	v := f.verifier(b, 0)
	f.run(b, func(b *testing.B, a *benchAlg) func(string) error {
		return func(tok string) error {
			_, err := v.Verify(bg, tok)
			return err
		}
	})
}
