package keyvault

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

const (
	// maxBodyBytes bounds a request body: a 25 KiB secret value and 15 tags
	// of 512-character names and values, all JSON-escaped at worst.
	maxBodyBytes = 512 << 10
	// maxSecretBytes is Key Vault's secret size limit (25 KiB).
	maxSecretBytes = 25 << 10
	// latestAPIVersion is what refusals of an api-version suggest.
	latestAPIVersion = "2026-04-01"
	// serviceVersion is sent as x-ms-keyvault-service-version, so a log
	// shows which vault answered.
	serviceVersion = "gatehouse-dev"
)

// apiVersions are the api-version values served. They share the wire
// format of every operation here; 2025-07-01 and 2026-04-01 only add
// certificate-backed secret fields and operations this vault does not serve.
var apiVersions = []string{"7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}

// Server is a running development vault. Its access policies are fixed at
// New; secrets and keys live in memory and, with Config.StateFile, on disk.
// It starts no goroutines and needs no Close.
type Server struct {
	vaultURL  string
	vaultName string // how access refusals name the vault
	challenge string // the WWW-Authenticate value of every 401
	verifier  *authn.Verifier
	access    map[string]*grant // by lower-case object id
	stateFile string
	now       func() time.Time
	log       *slog.Logger
	handler   http.Handler

	mu sync.RWMutex
	st *state
}

// New validates the configuration (every problem is reported), builds the
// token verifier unless Config.Verifier is set, and loads StateFile if it
// exists.
func New(cfg Config) (*Server, error) {
	var errs []error
	vaultURL := strings.TrimSuffix(cfg.VaultURL, "/")
	vu, err := url.Parse(vaultURL)
	if err != nil || vu.Scheme != "https" || vu.Host == "" || vu.Path != "" || vu.RawQuery != "" || vu.Fragment != "" || vu.User != nil {
		errs = append(errs, fieldError("VaultURL", "%q is not https://host[:port]", cfg.VaultURL))
	}
	authority := strings.TrimSuffix(cfg.Authority, "/")
	if u, err := url.Parse(authority); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		// The SDK reads the tenant from the first path segment of the
		// challenge's authorization URL: the authority can have no path.
		errs = append(errs, fieldError("Authority", "%q is not scheme://host[:port]", cfg.Authority))
	}
	if !authn.IsGUID(cfg.Tenant) {
		errs = append(errs, fieldError("Tenant", "%q is not a tenant GUID", cfg.Tenant))
	}
	access, err := newAccess(cfg.Access)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("keyvault: invalid configuration:\n%w", err)
	}
	s := &Server{
		vaultURL:  vaultURL,
		vaultName: vaultName(vu.Hostname()),
		challenge: fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, authority, cfg.Tenant, Resource),
		verifier:  cfg.Verifier,
		access:    access,
		stateFile: cfg.StateFile,
		now:       cfg.Now,
		log:       cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.verifier == nil {
		if s.verifier, err = newVerifier(authority, cfg.Tenant, cfg.HTTPClient, s.now, s.log); err != nil {
			return nil, fmt.Errorf("keyvault: %w", err)
		}
	}
	if s.st, err = loadState(cfg.StateFile, s.now()); err != nil {
		return nil, fmt.Errorf("keyvault: state file: %w", err)
	}
	s.handler = http.HandlerFunc(s.serve)
	return s, nil
}

// fieldError is a configuration problem, prefixed with the field it is in.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// newVerifier trusts the tenant's v1.0 and v2.0 issuers on the IdP, for
// tokens meant for Key Vault.
func newVerifier(authority, tenant string, client *http.Client, now func() time.Time, log *slog.Logger) (*authn.Verifier, error) {
	base := authority + "/" + tenant
	auds := []string{Resource, Resource + "/", AppID}
	return authn.NewVerifier(authn.Config{
		Issuers: []authn.IssuerConfig{
			{Name: "keyvault-v1", Type: authn.TypeEntra, Issuer: base + "/", TokenVersion: "1.0",
				DiscoveryURL: base + "/.well-known/openid-configuration", Audiences: auds},
			{Name: "keyvault-v2", Type: authn.TypeEntra, Issuer: base + "/v2.0", TokenVersion: "2.0",
				DiscoveryURL: base + "/v2.0/.well-known/openid-configuration", Audiences: auds},
		},
		HTTPClient: client,
		Now:        now,
		Logger:     log,
	})
}

// vaultName is how Key Vault names the vault in refusals: the first label
// of its host name (a vault's host is {name}.vault.azure.net), or an IP
// address whole.
func vaultName(host string) string {
	if net.ParseIP(host) != nil {
		return host
	}
	name, _, _ := strings.Cut(host, ".")
	return name
}

// Handler serves the Key Vault data plane: secrets, keys and their deleted
// forms. Every request needs a bearer token and an api-version.
func (s *Server) Handler() http.Handler { return s.handler }

// request is one authenticated call, as the operations see it.
type request struct {
	r          *http.Request
	w          http.ResponseWriter
	caller     *caller
	apiVersion string
	segs       []string // path segments; an empty one is an empty version
}

// serve authenticates, checks the api-version, routes, and writes the
// answer or Key Vault's error body.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("x-ms-request-id", newGUID())
	h.Set("x-ms-keyvault-service-version", serviceVersion)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if id := r.Header.Get("x-ms-client-request-id"); id != "" && len(id) <= 128 && isPrintable(id) {
		h.Set("x-ms-client-request-id", id)
	}
	c, e := s.authenticate(r)
	if e != nil {
		s.refuse(w, r, nil, e)
		return
	}
	req := &request{r: r, w: w, caller: c, segs: splitPath(r.URL.EscapedPath())}
	if req.apiVersion, e = checkAPIVersion(r.URL.Query()); e != nil {
		s.refuse(w, r, c, e)
		return
	}
	status, body, e := s.route(req)
	if e != nil {
		s.refuse(w, r, c, e)
		return
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// refuse writes e as Key Vault's error body; a 401 carries the challenge.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, c *caller, e *kvError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", s.challenge)
	}
	attrs := []any{"method", clip(r.Method), "path", clip(r.URL.Path), "status", e.status, "code", e.code}
	if c != nil {
		attrs = append(attrs, "caller", c.oid, "app", c.app)
	}
	if e.status >= 500 {
		s.log.Error("keyvault: request failed", attrs...)
	} else {
		s.log.Info("keyvault: request refused", attrs...)
	}
	type inner struct {
		Code string `json:"code"`
	}
	type body struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *inner `json:"innererror,omitempty"`
	}
	b := body{Code: e.code, Message: e.message}
	if e.inner != "" {
		b.InnerError = &inner{Code: e.inner}
	}
	writeJSON(w, e.status, map[string]body{"error": b})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"InternalServerError","message":"The response could not be encoded."}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// checkAPIVersion accepts the served versions, as Key Vault answers others.
func checkAPIVersion(q url.Values) (string, *kvError) {
	v := q.Get("api-version")
	if v == "" {
		return "", badParameter("The api-version query parameter is missing. Consider using the latest supported version (%s).", latestAPIVersion)
	}
	if !slices.Contains(apiVersions, v) {
		return "", badParameter("The specified version (%s) is not recognized. Consider using the latest supported version (%s).", clip(v), latestAPIVersion)
	}
	return v, nil
}

// splitPath splits an escaped path into unescaped segments. Leading and
// trailing slashes are dropped (a vault URL with a trailing slash makes
// "//secrets"), inner empty segments are kept: /keys/k//sign signs with the
// current version, as the SDK asks with version "".
func splitPath(p string) []string {
	p = strings.TrimLeft(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	return segs
}

// route dispatches on the collection and the shape of the path.
func (s *Server) route(req *request) (int, any, *kvError) {
	segs := req.segs
	if len(segs) == 0 {
		return 0, nil, badParameter("The request URI names no Key Vault collection.")
	}
	switch segs[0] {
	case "secrets":
		return s.routeSecrets(req, segs[1:])
	case "keys":
		return s.routeKeys(req, segs[1:])
	case "deletedsecrets":
		return s.routeDeleted(req, secretKind, segs[1:])
	case "deletedkeys":
		return s.routeDeleted(req, keyKind, segs[1:])
	case "certificates", "deletedcertificates", "storage", "deletedstorage", "rng", "securitydomain", "settings", "rbac", "providers":
		return 0, nil, errNotImplemented("The " + segs[0] + " API")
	}
	return 0, nil, badParameter("The request URI names no Key Vault collection.")
}

// methods answers 405 for a known path asked with another method.
func methods(req *request, allowed ...string) *kvError {
	if slices.Contains(allowed, req.r.Method) {
		return nil
	}
	req.w.Header().Set("Allow", strings.Join(allowed, ", "))
	return newError(http.StatusMethodNotAllowed, codeMethodNotAllow, "The requested resource does not support http method '%s'.", clip(req.r.Method))
}

// readBody decodes the JSON request body into v, at most maxBodyBytes.
// Unknown members are ignored, as Key Vault ignores members of newer
// api-versions it does not use.
func readBody(req *request, v any) *kvError {
	body, err := io.ReadAll(http.MaxBytesReader(req.w, req.r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(http.StatusRequestEntityTooLarge, codeTooLarge, "The request body is larger than %d bytes.", maxBodyBytes)
		}
		return badParameter("The request body could not be read.")
	}
	if len(body) == 0 {
		return badParameter("The request body is missing; this operation takes a JSON object.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return badParameter("The request body member '%s' has the wrong type.", clip(typeErr.Field))
		}
		return badParameter("The request body is not a valid JSON object.")
	}
	return nil
}

// newGUID returns a random version 4 GUID, for request ids.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
