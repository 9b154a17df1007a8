package upstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// AssertionHeader carries gatehouse's signed statement of the caller's
// identity, for this upstream to verify.
const AssertionHeader = "X-Gatehouse-Assertion"

// Config configures the development upstream.
type Config struct {
	// Verifier, when set, verifies the X-Gatehouse-Assertion header (a JWT
	// from gatehouse's own issuer, audience = this upstream), as a real
	// upstream should. Usually an *authn.Verifier. nil means assertions are
	// not checked and `identity` says so.
	Verifier interface {
		Verify(ctx context.Context, raw string) (*authn.Principal, error)
	}
	// Logger receives one line per request; nil means slog.Default().
	// Assertions are never logged.
	Logger *slog.Logger
}

// Limits on what a caller can make the upstream read or show.
const (
	maxBody         = 1 << 20 // request body bytes read
	maxPreview      = 1 << 10 // body bytes shown
	maxHeaderValue  = 1 << 10 // bytes shown per header value
	maxHeaderValues = 16      // values shown per header
	maxAssertion    = 16 << 10
)

type handler struct {
	verifier interface {
		Verify(ctx context.Context, raw string) (*authn.Principal, error)
	}
	log *slog.Logger
}

// Handler returns the development upstream: server-sent events at paths
// ending in /events, a WebSocket echo at paths ending in /ws, and a JSON
// description of the request everywhere else (see the package doc).
func Handler(cfg Config) http.Handler {
	h := &handler{verifier: cfg.Verifier, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/events" || strings.HasSuffix(p, "/events"):
		h.events(w, r)
	case p == "/ws" || strings.HasSuffix(p, "/ws"):
		h.echo(w, r)
	default:
		h.describe(w, r)
	}
}

// Description is the JSON the upstream answers with: what it received.
type Description struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	RawQuery string `json:"raw_query"`
	Host     string `json:"host"`
	Proto    string `json:"proto"`
	// Headers are the gateway-set headers received, canonical names; the
	// assertion's value is replaced by "present".
	Headers map[string][]string `json:"headers"`
	// Authorization is "present" or "absent": whether the caller's token
	// reached the upstream (behind gatehouse it never does).
	Authorization string    `json:"authorization"`
	Body          *Body     `json:"body,omitempty"`
	Identity      *Identity `json:"identity"`
}

// Body says what the request body held.
type Body struct {
	Bytes     int    `json:"bytes"`
	Truncated bool   `json:"truncated,omitempty"` // longer than the read limit
	Preview   string `json:"preview,omitempty"`   // the first bytes, as UTF-8 text
}

// Identity is the verified assertion, or why there is none.
type Identity struct {
	Error string `json:"error,omitempty"`
	Check string `json:"check,omitempty"` // the failed authn check, when known

	Subject string `json:"subject,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	// Issuer is the assertion's issuer (gatehouse); IdP the issuer of the
	// caller's own token, from the `idp` claim.
	Issuer   string         `json:"issuer,omitempty"`
	IdP      string         `json:"idp,omitempty"`
	Audience any            `json:"audience,omitempty"`
	Kind     string         `json:"kind,omitempty"`
	App      string         `json:"app,omitempty"`
	Agent    string         `json:"agent,omitempty"`
	Role     string         `json:"role,omitempty"` // the logical role gatehouse granted
	Groups   []string       `json:"groups,omitempty"`
	Roles    []string       `json:"app_roles,omitempty"`
	Scopes   []string       `json:"scopes,omitempty"`
	Expiry   *time.Time     `json:"expiry,omitempty"`
	Claims   map[string]any `json:"claims,omitempty"`
	// KeyID and Algorithm are the verified assertion's kid and alg: which
	// of gatehouse's published keys signed it.
	KeyID     string `json:"key_id,omitempty"`
	Algorithm string `json:"alg,omitempty"`
}

// forwardedHeaders are shown besides every X-Gatehouse-* header: the
// gateway's request id and forwarding headers, and the trace context it
// passes when it traces requests.
var forwardedHeaders = []string{"X-Request-Id", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "Traceparent", "Tracestate"}

func (h *handler) describe(w http.ResponseWriter, r *http.Request) {
	d := h.description(r)
	if r.Body != nil && r.Body != http.NoBody {
		d.Body = readBody(r.Body)
	}
	h.log.Info("upstream: request", "method", r.Method, "path", r.URL.Path,
		"request_id", r.Header.Get("X-Request-Id"), "subject", d.Identity.Subject, "identity_error", d.Identity.Error)
	writeJSON(w, http.StatusOK, d)
}

// description describes r without its body.
func (h *handler) description(r *http.Request) *Description {
	d := &Description{
		Method:        r.Method,
		Path:          r.URL.Path,
		RawQuery:      r.URL.RawQuery,
		Host:          r.Host,
		Proto:         r.Proto,
		Headers:       map[string][]string{},
		Authorization: "absent",
	}
	if _, ok := r.Header["Authorization"]; ok {
		d.Authorization = "present"
	}
	for name, vals := range r.Header {
		canon := http.CanonicalHeaderKey(name)
		if !strings.HasPrefix(canon, "X-Gatehouse-") && !slices.Contains(forwardedHeaders, canon) {
			continue
		}
		if canon == AssertionHeader {
			d.Headers[canon] = []string{"present"}
			continue
		}
		d.Headers[canon] = shown(vals)
	}
	d.Identity = h.identity(r)
	return d
}

// identity verifies the request's assertion.
func (h *handler) identity(r *http.Request) *Identity {
	vals := r.Header.Values(AssertionHeader)
	switch {
	case len(vals) == 0:
		return &Identity{Error: "no " + AssertionHeader + " header: the request did not come through gatehouse, or its route sets no assertion"}
	case len(vals) > 1:
		return &Identity{Error: "several " + AssertionHeader + " headers"}
	case len(vals[0]) > maxAssertion:
		return &Identity{Error: AssertionHeader + " is larger than 16 KiB"}
	case h.verifier == nil:
		return &Identity{Error: "this upstream has no verifier: the assertion was not checked"}
	}
	p, err := h.verifier.Verify(r.Context(), strings.TrimSpace(vals[0]))
	if err != nil {
		h.log.Warn("upstream: assertion refused", "request_id", r.Header.Get("X-Request-Id"), "err", err)
		var ae *authn.Error
		if errors.As(err, &ae) {
			return &Identity{Error: ae.Reason, Check: ae.Check}
		}
		return &Identity{Error: "the assertion could not be verified"}
	}
	if p == nil {
		return &Identity{Error: "the verifier returned no principal"}
	}
	id := &Identity{
		Subject: p.Subject, Tenant: p.Tenant, Issuer: p.Issuer, Kind: string(p.Kind), App: p.App, Agent: p.Agent(),
		Groups: p.Groups, Roles: p.Roles, Scopes: p.Scopes, Claims: p.Claims,
	}
	if !p.Expiry.IsZero() {
		exp := p.Expiry.UTC()
		id.Expiry = &exp
	}
	if aud, ok := p.Claims["aud"]; ok {
		id.Audience = aud
	}
	id.IdP, _ = p.Claims["idp"].(string)
	id.Role, _ = p.Claims["gatehouse_role"].(string)
	// The header of a token that verified: public, and says which key.
	if head, _, ok := strings.Cut(strings.TrimSpace(vals[0]), "."); ok {
		var h struct{ Alg, Kid string }
		if b, err := base64.RawURLEncoding.DecodeString(head); err == nil && json.Unmarshal(b, &h) == nil {
			id.KeyID, id.Algorithm = h.Kid, h.Alg
		}
	}
	return id
}

// readBody reads at most maxBody bytes of b and discards nothing more: the
// server closes a connection whose body was left unread.
func readBody(b io.Reader) *Body {
	buf, err := io.ReadAll(io.LimitReader(b, maxBody+1))
	out := &Body{Bytes: len(buf)}
	if len(buf) > maxBody {
		out.Bytes, out.Truncated = maxBody, true
		buf = buf[:maxBody]
	}
	if err != nil {
		out.Truncated = true
	}
	if len(buf) > maxPreview {
		buf = buf[:maxPreview]
	}
	if len(buf) > 0 {
		out.Preview = strings.ToValidUTF8(trimRune(string(buf)), "\uFFFD")
	}
	return out
}

// shown bounds header values for display.
func shown(vals []string) []string {
	if len(vals) > maxHeaderValues {
		vals = vals[:maxHeaderValues]
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		if len(v) > maxHeaderValue {
			v = trimRune(v[:maxHeaderValue]) + "…"
		}
		out[i] = strings.ToValidUTF8(v, "\uFFFD")
	}
	return out
}

// trimRune drops a rune cut in half at the end of s.
func trimRune(s string) string {
	for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// Claims are decoded JSON and always marshal; keep the answer valid.
		b, _ = json.Marshal(map[string]string{"error": "the description could not be encoded"})
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// errorJSON answers a caller's mistake.
func errorJSON(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
