package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks access tokens against the configured issuers. It is safe
// for concurrent use. Every check runs on every token; the verified-token
// cache only skips the signature and parsing work for a byte-identical token
// already verified, and re-checks time and key validity on each hit.
type Verifier struct {
	exact     map[string]*issuer // by exact `iss`
	templated []*issuer          // Entra issuers with "{tenantid}"
	all       []*issuer
	cache     *tokenCache
	hits      atomic.Int64 // verified-token cache hits, for metrics
	misses    atomic.Int64 // tokens verified in full
	maxBytes  int
	now       func() time.Time
}

type issuer struct {
	cfg            IssuerConfig
	keys           *keySet
	prefix, suffix string // around "{tenantid}" for a templated issuer
	algs           map[string]bool
	auds           map[string]bool
	apps           map[string]bool
	tenants        map[string]bool
	anyTenant      bool
	types          []string
}

// Signature algorithms we can ever allow. Never "none", never HMAC: the
// verification keys are public (RFC 8725 §3.1, §3.2).
var signingMethods = map[string]jwt.SigningMethod{
	"RS256": jwt.SigningMethodRS256, "RS384": jwt.SigningMethodRS384, "RS512": jwt.SigningMethodRS512,
	"PS256": jwt.SigningMethodPS256, "PS384": jwt.SigningMethodPS384, "PS512": jwt.SigningMethodPS512,
	"ES256": jwt.SigningMethodES256, "ES384": jwt.SigningMethodES384, "ES512": jwt.SigningMethodES512,
	"EdDSA": jwt.SigningMethodEdDSA,
}

// NewVerifier checks the configuration and builds a Verifier. It does no I/O:
// keys are fetched on first use, or ahead of it with Refresh, unless an
// issuer's Snapshot provides them.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{exact: map[string]*issuer{}, maxBytes: cfg.MaxTokenBytes, now: cfg.Now}
	if v.maxBytes == 0 {
		v.maxBytes = 16 << 10
	}
	if v.now == nil {
		v.now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("authn: no issuers configured")
	}
	var errs []error
	for _, ic := range cfg.Issuers {
		is, err := newIssuer(ic)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		is.keys = &keySet{iss: is, client: client, now: v.now, log: logger}
		if ic.HTTPClient != nil {
			is.keys.client = ic.HTTPClient
		}
		if ic.Snapshot != nil {
			if err := is.keys.seed(ic.Snapshot); err != nil {
				errs = append(errs, fmt.Errorf("authn: issuer %s: %w", ic.Name, err))
				continue
			}
		}
		if is.prefix != "" || is.suffix != "" {
			v.templated = append(v.templated, is)
		} else if _, dup := v.exact[is.cfg.Issuer]; dup {
			errs = append(errs, fmt.Errorf("authn: issuer %q: configured twice", is.cfg.Issuer))
			continue
		} else {
			v.exact[is.cfg.Issuer] = is
		}
		v.all = append(v.all, is)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.CacheEntries >= 0 {
		n := cfg.CacheEntries
		if n == 0 {
			n = 10000
		}
		v.cache = newTokenCache(n)
	}
	return v, nil
}

func newIssuer(c IssuerConfig) (*issuer, error) {
	prefix := "authn: issuer " + c.Name + ": "
	if c.Name == "" {
		return nil, errors.New("authn: an issuer has no name")
	}
	if c.Type == "" {
		c.Type = TypeOIDC
	}
	if c.Type != TypeOIDC && c.Type != TypeEntra {
		return nil, errors.New(prefix + "type must be entra or oidc")
	}
	if c.Issuer == "" {
		return nil, errors.New(prefix + "no issuer URL")
	}
	if len(c.Audiences) == 0 {
		return nil, errors.New(prefix + "no audiences: a token for any audience would pass")
	}
	defaults(&c)
	is := &issuer{cfg: c, algs: map[string]bool{}, auds: map[string]bool{}, types: c.Types}
	for _, a := range c.Algorithms {
		if signingMethods[a] == nil {
			return nil, fmt.Errorf("%salgorithm %q is not allowed (allowed: RS*, PS*, ES*, EdDSA; never none or HMAC)", prefix, a)
		}
		is.algs[a] = true
	}
	for _, a := range c.Audiences {
		if a == "" {
			return nil, errors.New(prefix + "empty audience")
		}
		is.auds[a] = true
	}
	if len(c.AllowedApps) > 0 {
		is.apps = map[string]bool{}
		for _, a := range c.AllowedApps {
			is.apps[a] = true
		}
	}
	for _, t := range c.Tenants {
		if t == "*" {
			is.anyTenant = true
		} else {
			if is.tenants == nil {
				is.tenants = map[string]bool{}
			}
			is.tenants[strings.ToLower(t)] = true
		}
	}
	if i := strings.Index(strings.ToLower(c.Issuer), "{tenantid}"); i >= 0 {
		if c.Type != TypeEntra {
			return nil, errors.New(prefix + "only entra issuers may use the {tenantid} template")
		}
		if !is.anyTenant && len(is.tenants) == 0 {
			return nil, errors.New(prefix + "a multi-tenant issuer needs a tenant allow-list (or \"*\")")
		}
		if c.DiscoveryURL == "" && c.JWKSURL == "" {
			return nil, errors.New(prefix + "a templated issuer needs discovery_url or jwks_url")
		}
		is.prefix, is.suffix = c.Issuer[:i], c.Issuer[i+len("{tenantid}"):]
	}
	if c.Type == TypeEntra && c.TokenVersion != "1.0" && c.TokenVersion != "2.0" {
		return nil, errors.New(prefix + `token version must be "1.0" or "2.0"`)
	}
	for _, u := range []string{c.DiscoveryURL, c.JWKSURL} {
		if u != "" {
			if err := checkFetchURL(u); err != nil {
				return nil, fmt.Errorf("%s%w", prefix, err)
			}
		}
	}
	if c.JWKSURL == "" && c.DiscoveryURL == "" {
		if err := checkFetchURL(c.Issuer); err != nil {
			return nil, fmt.Errorf("%sissuer: %w", prefix, err)
		}
	}
	if c.MinRefreshInterval < MinRefreshIntervalFloor {
		return nil, fmt.Errorf("%smin_refresh_interval %s is below the floor of %s (it bounds how often tokens with unknown kids can make the verifier fetch keys)",
			prefix, c.MinRefreshInterval, MinRefreshIntervalFloor)
	}
	if c.MinRefreshInterval > c.RefreshInterval || c.RefreshInterval > c.MaxKeyAge {
		return nil, errors.New(prefix + "want min_refresh_interval <= refresh_interval <= max_key_age")
	}
	return is, nil
}

func defaults(c *IssuerConfig) {
	if c.Type == TypeEntra && c.TokenVersion == "" {
		c.TokenVersion = "2.0"
	}
	if c.Algorithms == nil {
		c.Algorithms = []string{"RS256"}
	}
	if c.Leeway == 0 {
		c.Leeway = time.Minute
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = 24 * time.Hour
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = time.Hour
	}
	if c.MinRefreshInterval == 0 {
		c.MinRefreshInterval = 5 * time.Minute
	}
	if c.MaxKeyAge == 0 {
		c.MaxKeyAge = 24 * time.Hour
	}
}

func (is *issuer) discoveryURL() string {
	if is.cfg.DiscoveryURL != "" {
		return is.cfg.DiscoveryURL
	}
	return strings.TrimSuffix(is.cfg.Issuer, "/") + "/.well-known/openid-configuration"
}

// Refresh fetches every issuer's keys now, for start-up. It returns the
// issuers' errors joined; verification works for the others. It joins a
// fetch already under way, and is not held to MinRefreshInterval nor counts
// against it: it is the program's call, not a token's, and a failed fetch
// at start-up leaves the first request free to try again.
func (v *Verifier) Refresh(ctx context.Context) error {
	var errs []error
	for _, is := range v.all {
		if err := is.keys.refresh(ctx, is.keys.state.Load(), false); err != nil {
			errs = append(errs, fmt.Errorf("authn: issuer %s: %w", is.cfg.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Ready reports whether every issuer has keys that may be used now.
func (v *Verifier) Ready() bool {
	now := v.now()
	for _, is := range v.all {
		if is.keys.current(now) == nil {
			return false
		}
	}
	return true
}

// Verify checks raw, a compact JWS access token, and returns its Principal or
// an *Error naming the failed check. The Principal may be shared: read-only.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, fail(InvalidRequest, CheckRequest, "no token", errNoToken)
	}
	if len(raw) > v.maxBytes {
		return nil, invalid(CheckSize, fmt.Sprintf("token larger than %d bytes", v.maxBytes))
	}
	now := v.now()
	if v.cache != nil {
		if p, err := v.cache.get(raw, now); p != nil || err != nil {
			v.hits.Add(1)
			return p, err
		}
	}
	v.misses.Add(1)
	t, err := parseJWS(raw)
	if err != nil {
		return nil, err
	}
	is, err := v.issuerOf(t)
	if err != nil {
		return nil, err
	}
	k, err := is.checkSignature(ctx, t)
	if err != nil {
		return nil, err
	}
	p, err := is.checkClaims(t, k, now)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(raw, &cacheEntry{token: raw, p: p, keys: is.keys, key: k, notBefore: p.NotBefore.Add(-is.cfg.Leeway), notAfter: p.Expiry.Add(is.cfg.Leeway)})
	}
	return p, nil
}

// issuerOf finds the configured issuer by the token's (still unverified)
// `iss`: only to know whose keys to use. The claim is checked again after
// the signature.
func (v *Verifier) issuerOf(t *jws) (*issuer, error) {
	iss, err := claimString(t.claims, "iss")
	if err != nil {
		return nil, err
	}
	if iss == "" {
		return nil, invalid(CheckIssuer, "token has no iss")
	}
	if is := v.exact[iss]; is != nil {
		return is, nil
	}
	for _, is := range v.templated {
		if len(iss) > len(is.prefix)+len(is.suffix) && strings.HasPrefix(iss, is.prefix) && strings.HasSuffix(iss, is.suffix) {
			if IsGUID(iss[len(is.prefix) : len(iss)-len(is.suffix)]) {
				return is, nil
			}
		}
	}
	return nil, invalid(CheckIssuer, "issuer is not trusted")
}

func (is *issuer) checkSignature(ctx context.Context, t *jws) (*key, error) {
	alg := t.header.alg
	if strings.EqualFold(alg, "none") {
		return nil, invalid(CheckAlg, "alg none is never accepted")
	}
	if !is.algs[alg] {
		return nil, fail(InvalidToken, CheckAlg, "the token's alg is not allowed for this issuer",
			fmt.Errorf("alg %s is not in the issuer's allow-list %v", clip(alg), is.cfg.Algorithms))
	}
	if len(is.types) > 0 && !typAllowed(t.header.typ, is.types) {
		return nil, invalid(CheckTyp, "typ header is not accepted for this issuer")
	}
	if t.header.kid == "" {
		return nil, invalid(CheckKid, "token has no kid")
	}
	k, err := is.keys.lookup(ctx, t.header.kid)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(k, alg, t.signingInput, t.signature); err != nil {
		return nil, err
	}
	return k, nil
}

// verifySignature checks sig over input with key k under alg, after binding
// the algorithm to the key: the JWK's own alg if it names one, and the key
// type and curve. For ES* the signature must be the fixed-size r||s form of
// RFC 7518 §3.4 (a DER signature never verifies).
func verifySignature(k *key, alg, input string, sig []byte) error {
	m := signingMethods[alg]
	if m == nil {
		return fail(InvalidToken, CheckAlg, "the token's alg is not supported", fmt.Errorf("alg %s", clip(alg)))
	}
	if k.alg != "" && k.alg != alg {
		return invalid(CheckAlg, "alg does not match the key's alg")
	}
	if !keyFitsAlg(k, alg) {
		return invalid(CheckAlg, "alg does not match the key type")
	}
	if err := m.Verify(input, sig, k.pub); err != nil {
		return fail(InvalidToken, CheckSignature, "signature does not verify", err)
	}
	return nil
}

// keyFitsAlg ties each algorithm to one key type (and curve), so a key can
// never be used with an algorithm it was not made for.
func keyFitsAlg(k *key, alg string) bool {
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		return alg[0] == 'R' || alg[0] == 'P'
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func typAllowed(typ string, allowed []string) bool {
	norm := func(s string) string { return strings.TrimPrefix(strings.ToLower(s), "application/") }
	for _, a := range allowed {
		if typ != "" && norm(typ) == norm(a) {
			return true
		}
	}
	return false
}

// checkClaims runs every claim check on a token whose signature verified.
func (is *issuer) checkClaims(t *jws, k *key, now time.Time) (*Principal, error) {
	c := t.claims
	iss, _ := claimString(c, "iss")
	p := &Principal{IssuerName: is.cfg.Name, Issuer: iss, Claims: c}

	if is.cfg.Type == TypeEntra {
		if err := is.checkEntraIssuer(c, k, iss); err != nil {
			return nil, err
		}
	} else if iss != is.cfg.Issuer {
		return nil, invalid(CheckIssuer, "issuer mismatch")
	}

	auds, err := claimStringOrStrings(c, "aud")
	if err != nil {
		return nil, fail(InvalidToken, CheckAudience, "aud must be a string or an array of strings", err)
	}
	if !is.audienceOK(auds) {
		return nil, invalid(CheckAudience, "token is not meant for this resource")
	}

	if err := is.checkTimes(c, p, now); err != nil {
		return nil, err
	}

	if is.cfg.Type == TypeEntra {
		err = entraPrincipal(c, p)
	} else {
		err = oidcPrincipal(c, is.cfg.Claims, p)
	}
	if err != nil {
		return nil, err
	}
	if is.apps != nil && !is.apps[p.App] {
		return nil, invalid(CheckApp, "calling application is not allowed")
	}
	return p, nil
}

func (is *issuer) audienceOK(auds []string) bool {
	for _, a := range auds {
		if is.auds[a] {
			return true
		}
		// Entra v1 tokens may carry an App ID URI with or without a
		// trailing slash (entra-id-tokens.md §1).
		if is.cfg.Type == TypeEntra && strings.Contains(a, "://") {
			if is.auds[strings.TrimSuffix(a, "/")] || is.auds[a+"/"] {
				return true
			}
		}
	}
	return false
}

func (is *issuer) checkTimes(c map[string]any, p *Principal, now time.Time) error {
	leeway := is.cfg.Leeway
	exp, ok, err := claimTime(c, "exp")
	if err != nil {
		return fail(InvalidToken, CheckExpiry, "exp must be a NumericDate", err)
	}
	if !ok {
		return invalid(CheckExpiry, "token has no exp")
	}
	p.Expiry = unixTime(exp)
	if !now.Before(p.Expiry.Add(leeway)) {
		return invalid(CheckExpiry, "token expired")
	}
	nbf, ok, err := claimTime(c, "nbf")
	if err != nil {
		return fail(InvalidToken, CheckNotBefore, "nbf must be a NumericDate", err)
	}
	if ok {
		p.NotBefore = unixTime(nbf)
		if now.Add(leeway).Before(p.NotBefore) {
			return invalid(CheckNotBefore, "token not yet valid")
		}
	}
	iat, ok, err := claimTime(c, "iat")
	if err != nil {
		return fail(InvalidToken, CheckIssuedAt, "iat must be a NumericDate", err)
	}
	start := now
	if ok {
		p.IssuedAt = unixTime(iat)
		if now.Add(leeway).Before(p.IssuedAt) {
			return invalid(CheckIssuedAt, "token issued in the future")
		}
		start = p.IssuedAt
	}
	if p.Expiry.Sub(start) > is.cfg.MaxLifetime {
		return invalid(CheckLifetime, "token lifetime exceeds the maximum")
	}
	return nil
}

func unixTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}
