package idp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	defaultTokenLifetime = time.Hour
	minTokenLifetime     = time.Minute
	// maxBodyBytes bounds every request body (token and authorize forms).
	maxBodyBytes = 64 << 10
)

// Server is a running development IdP. Its directory is fixed at New;
// authorization codes, refresh tokens and seen client-assertion ids live in
// memory only, so they do not survive a restart (signing keys in KeyDir do).
type Server struct {
	base     string
	dir      *directory
	keys     *keyStore
	lifetime time.Duration
	now      func() time.Time
	log      *slog.Logger
	grants   *grantStore
	handler  http.Handler

	randMu sync.Mutex
	rand   io.Reader
}

// New validates the configuration (unique ids, resolvable group, app and
// permission references, parseable certificates; every problem is reported)
// and loads the signing keys from KeyDir, creating them on first start.
func New(cfg Config) (*Server, error) {
	var errs []error
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, fmt.Errorf("BaseURL: %q is not scheme://host[:port]", cfg.BaseURL))
	}
	lifetime := cfg.TokenLifetime
	if lifetime == 0 {
		lifetime = defaultTokenLifetime
	}
	if lifetime < minTokenLifetime || lifetime > retiredKeyMaxAge {
		errs = append(errs, fmt.Errorf("TokenLifetime: %v is outside [%v, %v]", cfg.TokenLifetime, minTokenLifetime, retiredKeyMaxAge))
	}
	dir, err := newDirectory(cfg.Tenants)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("idp: invalid configuration:\n%w", err)
	}
	s := &Server{
		base:     base,
		dir:      dir,
		lifetime: lifetime,
		now:      cfg.Now,
		log:      cfg.Logger,
		rand:     cfg.Rand,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.grants = newGrantStore()
	if s.keys, err = openKeyStore(cfg.KeyDir, s.now, s.log); err != nil {
		return nil, fmt.Errorf("idp: signing keys: %w", err)
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.discovery(false))
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", s.discovery(true))
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.jwks(false))
	mux.HandleFunc("GET /{tenant}/discovery/keys", s.jwks(true))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, r, newError(errInvalidRequest, 900561, "The endpoint only accepts POST requests. Received a %s request.", r.Method))
	})
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("GET /common/UserRealm/{username}", s.userRealm)
	mux.HandleFunc("GET /common/discovery/instance", s.instanceDiscovery)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

// Handler serves every endpoint: discovery (v1 and v2), JWKS, token,
// authorize, MSAL's instance discovery and user realm. Paths start with the
// tenant GUID or domain, matched case-insensitively.
func (s *Server) Handler() http.Handler { return s.handler }

// Close forgets the authorization codes, refresh tokens and assertion ids
// held in memory. The Server starts no goroutines; Close may be called more
// than once.
func (s *Server) Close() error {
	s.grants.clear()
	return nil
}

// Issuer returns the v2.0 issuer (BaseURL/{tenant GUID}/v2.0) of the tenant
// named by GUID or domain, or "" for an unknown tenant. It is what v2.0
// access tokens and all ID tokens carry in `iss`.
func (s *Server) Issuer(tenant string) string {
	if t := s.dir.lookup(tenant); t != nil {
		return s.issuerV2(t)
	}
	return ""
}

// IssuerV1 returns the v1.0 issuer (BaseURL/{tenant GUID}/, the stand-in for
// https://sts.windows.net/{tid}/) of the tenant, or "" for an unknown
// tenant. v1.0 access tokens carry it in `iss`.
func (s *Server) IssuerV1(tenant string) string {
	if t := s.dir.lookup(tenant); t != nil {
		return s.issuerV1(t)
	}
	return ""
}

// Tenants returns the configured tenants with defaults applied (each app's
// AppIDURI). The user, group and app slices are copies; the slices and maps
// inside their elements (secrets, groups, roles, ...) are shared and must not
// be modified.
func (s *Server) Tenants() []Tenant {
	out := make([]Tenant, len(s.dir.tenants))
	for i, t := range s.dir.tenants {
		out[i] = t.Tenant
		out[i].Users = slices.Clone(t.Users)
		out[i].Groups = slices.Clone(t.Groups)
		out[i].Apps = slices.Clone(t.Apps)
	}
	return out
}

func (s *Server) issuerV2(t *tenant) string { return s.base + "/" + t.ID + "/v2.0" }
func (s *Server) issuerV1(t *tenant) string { return s.base + "/" + t.ID + "/" }
func (s *Server) tokenURL(t *tenant) string { return s.base + "/" + t.ID + "/oauth2/v2.0/token" }
func (s *Server) authorizeURL(t *tenant) string {
	return s.base + "/" + t.ID + "/oauth2/v2.0/authorize"
}

// random returns n bytes from Config.Rand.
func (s *Server) random(n int) ([]byte, error) {
	b := make([]byte, n)
	s.randMu.Lock()
	defer s.randMu.Unlock()
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, err
	}
	return b, nil
}

// randomToken returns an unguessable base64url string of n random bytes.
func (s *Server) randomToken(n int) (string, error) {
	b, err := s.random(n)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// guid returns a random (version 4) GUID for trace and correlation ids; if
// Rand fails it returns the nil GUID, which is only ever a diagnostic id.
func (s *Server) guid() string {
	b, err := s.random(16)
	if err != nil {
		return "00000000-0000-0000-0000-000000000000"
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
