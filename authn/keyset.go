package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// maxDocumentBytes bounds discovery documents and JWKS responses.
const maxDocumentBytes = 1 << 20

// key is one verification key of an issuer.
type key struct {
	kid    string
	pub    crypto.PublicKey
	alg    string // the JWK's alg, "" if it names none
	issuer string // Entra's per-key issuer (may hold "{tenantid}"), "" if none
}

// keyState is an immutable snapshot of an issuer's keys.
type keyState struct {
	keys      map[string]*key
	fetchedAt time.Time // last successful fetch
	// seeded says the keys came from a Snapshot (IssuerConfig.Snapshot),
	// not from a fetch of this process: fetchedAt is the snapshot's.
	seeded bool
}

// keySet fetches and caches one issuer's keys: discovery (unless a JWKS URL
// is configured), then the JWKS. Every fetch a request can cause (first
// load, stale keys, refresh on schedule, unknown kid) takes the rate-limit
// slot first: at most one starts per MinRefreshInterval, whether it succeeds
// or not, however many requests ask; requests that find a fetch under way
// wait for it, each within its own context. After a failed refresh the last
// good keys keep serving until MaxKeyAge, then the issuer is Unavailable
// (fail closed).
type keySet struct {
	iss    *issuer
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	state atomic.Pointer[keyState]
	// lastAttempt is when the rate-limit slot was last taken (unix nanos;
	// 0 before the first rate-limited fetch).
	lastAttempt atomic.Int64
	fetches     atomic.Int64 // number of fetch attempts, for metrics and tests
	failures    atomic.Int64 // failed fetch attempts

	// mu makes taking the slot and publishing the fetch one step, so that
	// a request that misses the slot always finds the fetch to wait for.
	mu       sync.Mutex
	inflight atomic.Pointer[fetchCall] // the fetch under way, nil if none
}

// fetchCall is one fetch; done is closed when err is set and the keys, if
// any, are installed.
type fetchCall struct {
	done chan struct{}
	err  error
}

// errRateLimited says a fetch was wanted but the slot was taken less than
// MinRefreshInterval ago.
var errRateLimited = errors.New("key refresh rate-limited (min_refresh_interval)")

// lookup returns the key for kid, refreshing as the rules allow.
func (ks *keySet) lookup(ctx context.Context, kid string) (*key, error) {
	now := ks.now()
	st := ks.state.Load()
	if st == nil || now.Sub(st.fetchedAt) > ks.iss.cfg.MaxKeyAge {
		// Never loaded, or too stale to trust: fetch before answering,
		// within the rate limit (an outage must not become a fetch per
		// request).
		err := ks.refresh(ctx, st, true)
		if st = ks.current(ks.now()); st == nil {
			return nil, fail(Unavailable, CheckKeys, "the issuer's signing keys are unavailable", err)
		}
	} else if now.Sub(st.fetchedAt) > ks.iss.cfg.RefreshInterval || st.seeded && ks.lastAttempt.Load() == 0 {
		// Due, or serving a snapshot that this process has not yet tried
		// to refresh (snapshot.go): refresh without holding the request,
		// in the same slot as every other fetch.
		ks.start(ctx, st, true)
	}
	if k := st.keys[kid]; k != nil {
		return k, nil
	}
	// Unknown kid: maybe the issuer rotated. Wait for the fetch under way,
	// or start one if the slot is free, then fail closed.
	err := ks.refresh(ctx, st, true)
	if st := ks.state.Load(); st != nil {
		if k := st.keys[kid]; k != nil {
			return k, nil
		}
	}
	if err != nil {
		err = fmt.Errorf("kid %s is not among the issuer's keys: %w", clip(kid), err)
	} else {
		err = fmt.Errorf("kid %s is not among the issuer's keys", clip(kid))
	}
	return nil, fail(InvalidToken, CheckKid, "no key with this kid", err)
}

// current returns the present snapshot if it may still be used at now.
func (ks *keySet) current(now time.Time) *keyState {
	st := ks.state.Load()
	if st == nil || now.Sub(st.fetchedAt) > ks.iss.cfg.MaxKeyAge {
		return nil
	}
	return st
}

func (ks *keySet) mayRefresh(now time.Time) bool {
	last := ks.lastAttempt.Load()
	return last == 0 || now.Sub(time.Unix(0, last)) >= ks.iss.cfg.MinRefreshInterval
}

// refresh waits for the fetch under way, or starts one (start), and returns
// its error; the caller stops waiting when ctx ends, the fetch does not.
// It returns nil at once when the keys changed since the caller read seen,
// and errRateLimited when limited and the slot is taken.
func (ks *keySet) refresh(ctx context.Context, seen *keyState, limited bool) error {
	c, err := ks.start(ctx, seen, limited)
	if c == nil {
		return err
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start returns the fetch under way, or starts one: when limited, only if
// it can take the rate-limit slot. It returns (nil, nil) when the keys
// changed since the caller read seen (read them again: nothing to fetch),
// and (nil, errRateLimited) when no fetch may start.
func (ks *keySet) start(ctx context.Context, seen *keyState, limited bool) (*fetchCall, error) {
	// Without the lock first: between slots, a flood of unknown kids costs
	// two atomic loads per token.
	if c := ks.inflight.Load(); c != nil {
		return c, nil
	}
	if limited && !ks.mayRefresh(ks.now()) {
		return nil, errRateLimited
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if c := ks.inflight.Load(); c != nil {
		return c, nil
	}
	if cur := ks.state.Load(); cur != nil && cur != seen {
		return nil, nil
	}
	if limited {
		// Taken before the fetch, and kept if it fails: checking first and
		// recording later let every request that checked in between start
		// another fetch.
		now := ks.now()
		if !ks.mayRefresh(now) {
			return nil, errRateLimited
		}
		ks.lastAttempt.Store(now.UnixNano())
	}
	c := &fetchCall{done: make(chan struct{})}
	ks.inflight.Store(c)
	ks.fetches.Add(1)
	// Detached from the caller's context so that its cancellation does not
	// fail the fetch for everyone waiting on it.
	go ks.run(context.WithoutCancel(ctx), c)
	return c, nil
}

func (ks *keySet) run(ctx context.Context, c *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ctx, span := fetchSpan(ctx, ks.iss.cfg.Name)
	keys, err := ks.fetch(ctx)
	endFetchSpan(span, len(keys), err)
	if err != nil {
		ks.failures.Add(1)
		ks.log.WarnContext(ctx, "authn: key refresh failed", "issuer", ks.iss.cfg.Name, "err", err)
	} else {
		ks.install(keys)
	}
	c.err = err
	ks.inflight.Store(nil)
	close(c.done)
}

// install swaps in a new snapshot, keeping the *key of unchanged keys so that
// cached verifications made with them stay valid.
func (ks *keySet) install(keys map[string]*key) {
	if old := ks.state.Load(); old != nil {
		for kid, k := range keys {
			if o := old.keys[kid]; o != nil && sameKey(o, k) {
				keys[kid] = o
			}
		}
	}
	ks.state.Store(&keyState{keys: keys, fetchedAt: ks.now()})
}

func sameKey(a, b *key) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.pub.(equaler)
	return ok && e.Equal(b.pub) && a.alg == b.alg && a.issuer == b.issuer
}

func (ks *keySet) fetch(ctx context.Context) (map[string]*key, error) {
	_, raw, err := ks.fetchDocuments(ctx)
	if err != nil {
		return nil, err
	}
	return ks.parseKeys(raw, "jwks")
}

// fetchDocuments fetches the discovery document (unless a JWKS URL is
// configured) and the JWKS, and returns the JWKS URL and its raw keys.
func (ks *keySet) fetchDocuments(ctx context.Context) (string, []jsontext.Value, error) {
	jwksURL := ks.iss.cfg.JWKSURL
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := ks.getJSON(ctx, ks.iss.discoveryURL(), &doc); err != nil {
			return "", nil, fmt.Errorf("discovery: %w", err)
		}
		// OIDC Discovery §4.3: the document must name the issuer we expect
		// (for Entra multi-tenant documents, the same template).
		if doc.Issuer != ks.iss.cfg.Issuer {
			return "", nil, fmt.Errorf("discovery: document names issuer %q, want %q", doc.Issuer, ks.iss.cfg.Issuer)
		}
		if err := checkFetchURL(doc.JWKSURI); err != nil {
			return "", nil, fmt.Errorf("discovery: jwks_uri: %w", err)
		}
		jwksURL = doc.JWKSURI
	}
	var set struct {
		Keys []jsontext.Value `json:"keys"`
	}
	if err := ks.getJSON(ctx, jwksURL, &set); err != nil {
		return "", nil, fmt.Errorf("jwks: %w", err)
	}
	if set.Keys == nil {
		return "", nil, errors.New("jwks: no keys member")
	}
	return jwksURL, set.Keys, nil
}

// parseKeys keeps the usable keys of a key set (parseJWK) and refuses the
// set when two keys share a kid or none is usable. what names the source
// in errors: "jwks" or "snapshot".
func (ks *keySet) parseKeys(raws []jsontext.Value, what string) (map[string]*key, error) {
	keys := make(map[string]*key, len(raws))
	skipped := 0
	for _, raw := range raws {
		k, err := parseJWK(raw)
		if err != nil {
			skipped++
			continue
		}
		if _, dup := keys[k.kid]; dup {
			// Two keys under one kid: neither can be chosen safely.
			return nil, fmt.Errorf("%s: duplicate kid %q", what, k.kid)
		}
		keys[k.kid] = k
	}
	if skipped > 0 {
		ks.log.Info("authn: skipped unusable keys in "+what, "issuer", ks.iss.cfg.Name, "skipped", skipped)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no usable signing keys", what)
	}
	return keys, nil
}

func (ks *keySet) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", redactURL(u), resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return err
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("GET %s: document larger than %d bytes", redactURL(u), maxDocumentBytes)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %w", redactURL(u), err)
	}
	return nil
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	p.RawQuery, p.User = "", nil
	return p.String()
}

// checkFetchURL allows https, and plain http only to loopback hosts (a local
// development IdP without TLS).
func checkFetchURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", u)
	}
	switch {
	case p.Scheme == "https":
		return nil
	case p.Scheme == "http" && isLoopback(p.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: keys are fetched over https only", u)
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// parseJWK parses one JWK of a JWKS and keeps it only if it is a public
// signature key we can use: RSA of at least 2048 bits, EC on P-256/384/521,
// or Ed25519; `use` sig if present; `key_ops` including verify if present.
func parseJWK(raw []byte) (*key, error) {
	var meta struct {
		Kid    string   `json:"kid"`
		Use    string   `json:"use"`
		KeyOps []string `json:"key_ops"`
		Issuer string   `json:"issuer"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, err
	}
	if meta.Kid == "" {
		return nil, errors.New("key has no kid")
	}
	if meta.Use != "" && meta.Use != "sig" {
		return nil, errors.New("key is not for signatures")
	}
	if meta.KeyOps != nil && !slices.Contains(meta.KeyOps, "verify") {
		return nil, errors.New("key_ops lacks verify")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	if !jwk.IsPublic() || !jwk.Valid() {
		return nil, errors.New("not a valid public key")
	}
	switch pub := jwk.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, errors.New("RSA key shorter than 2048 bits")
		}
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, errors.New("unsupported curve")
		}
	case ed25519.PublicKey:
	default:
		return nil, errors.New("unsupported key type")
	}
	return &key{kid: meta.Kid, pub: jwk.Key, alg: jwk.Algorithm, issuer: meta.Issuer}, nil
}
