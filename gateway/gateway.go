package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/requestid"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// Route maps requests to a target and says what they ask of policy.
type Route struct {
	// ID names the route in the audit trail and in invoke's routeKey.
	ID string
	// Method is the HTTP method, "" for any.
	Method string
	// Host, when set, is the only host the route answers (matched against
	// the request's Host without its port).
	Host string
	// Path is a net/http ServeMux path pattern, such as "/reports/{id}".
	Path string
	// Issuers, when set, are the only issuers (authn IssuerConfig names)
	// whose tokens the route accepts; Audiences, when set, the only `aud`
	// values. Tokens outside them get 401 invalid_token.
	Issuers   []string
	Audiences []string
	// Target is step 4; TargetName names it in the audit trail.
	Target     invoke.Target
	TargetName string
	// Action and Resource are what the request asks of policy. An empty
	// Action means read for GET, HEAD and OPTIONS requests and write for
	// any other method.
	Action   string
	Resource authz.Resource
	// Role, when set, is the only role the request may run under.
	Role string
	// SessionPolicy narrows the role's credentials to this target (for a
	// function, creds.InvokePolicy(its ARN)); "" for none.
	SessionPolicy string
	// NoCredentials skips step 3: the target needs no AWS credentials (an
	// HTTP upstream gets a signed identity assertion instead).
	NoCredentials bool
	// Metadata, when set, is the route's own RFC 9728 document (the
	// issuers and scopes it wants), served at
	// /.well-known/oauth-protected-resource followed by the route's literal
	// path prefix, and named by the route's WWW-Authenticate challenges.
	// Resource and BearerMethods are filled in. nil: the gateway's document.
	Metadata *ResourceMetadata

	metaURL  string // the metadata URL its challenges name
	host     string // the host targets are told: Host, else the public URL's (invoke.Call.Host)
	spanName string // its requests' span name, when the route has a method
}

// streamer is a target whose responses are streamed, not buffered (an HTTP
// upstream: server-sent events, WebSockets). Its audit event is committed
// when the response headers are ready, before the first byte leaves.
type streamer interface{ Streams() bool }

func streams(t invoke.Target) bool {
	s, ok := t.(streamer)
	return ok && s.Streams()
}

// Config configures a Gateway.
type Config struct {
	// Snapshot is what the configuration built: the pipeline, the routes
	// and the metadata. Swap replaces it whole.
	Snapshot
	// PublicURL is the gateway's external URL (scheme://host[:port]): the
	// scheme and host targets are told the request was addressed to
	// (X-Forwarded-Proto and -Host, an event's host and domainName) when
	// a route names no host. Never the caller's Host header. "" means
	// targets are told no host.
	PublicURL string
	// Metrics, when set, are updated per request and served by
	// AdminHandler at /metrics.
	Metrics *Metrics
	// Ready, if set, is asked by /readyz besides the pipeline (issuer
	// keys): the secrets, for one. Its error is not shown to callers.
	Ready func() error
	// Admin are more handlers of the admin listener, by ServeMux pattern
	// (such as "POST /secrets/refresh"); never on the public listener.
	Admin map[string]http.Handler
	// MaxResponseBytes bounds a buffered target response; 0 means 7 MiB.
	MaxResponseBytes int
	// MaxRequestBytes bounds a request body; 0 means 6 MiB. Larger bodies
	// get 413.
	MaxRequestBytes int64
	// ReadHeaderTimeout and ReadTimeout are NewServer's; 0 means the
	// package's constants.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
}

// Snapshot is what one configuration gives the gateway, used whole by each
// request and replaced whole by Swap.
type Snapshot struct {
	// Pipeline runs the steps; required.
	Pipeline *pipeline.Pipeline
	// Routes map requests to targets.
	Routes []Route
	// Metadata is the RFC 9728 protected-resource metadata served at
	// /.well-known/oauth-protected-resource and named in WWW-Authenticate.
	Metadata ResourceMetadata
}

// ResourceMetadata is the RFC 9728 document: which issuers and scopes this
// resource wants, so OAuth clients and agents can discover them.
type ResourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	ScopesSupported      []string `json:"scopes_supported,omitempty"`
	BearerMethods        []string `json:"bearer_methods_supported"`
	ResourceName         string   `json:"resource_name,omitempty"`
}

const metadataPath = "/.well-known/oauth-protected-resource"

// Gateway is the HTTP entry point.
type Gateway struct {
	cfg     Config
	current atomic.Pointer[state] // swapped whole by Swap
	log     *slog.Logger
	now     func() time.Time
	maxResp int
	maxReq  int64
	// From Config.PublicURL: its scheme, host[:port] and port.
	scheme, publicHost, publicPort string
}

// state is a Snapshot built for serving: its routing table.
type state struct {
	pl    *pipeline.Pipeline
	meta  ResourceMetadata
	table *table
}

// New checks cfg and builds the routing table. A route whose protection
// cannot be honoured (no target, no resource, no path) is refused: the
// gateway never serves a route unprotected by accident.
func New(cfg Config) (*Gateway, error) {
	g := &Gateway{cfg: cfg, log: cfg.Logger, now: cfg.Now, maxResp: cfg.MaxResponseBytes, maxReq: cfg.MaxRequestBytes}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.maxResp == 0 {
		g.maxResp = 7 << 20
	}
	if g.maxReq == 0 {
		g.maxReq = 6 << 20
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("gateway: public URL %q: want scheme://host[:port]", cfg.PublicURL)
		}
		g.scheme, g.publicHost, g.publicPort = u.Scheme, u.Host, u.Port()
	}
	if err := g.Swap(cfg.Snapshot); err != nil {
		return nil, err
	}
	return g, nil
}

// Swap makes s what every later request uses, at once: requests already
// routed finish with the snapshot they started with. s is built to the
// side first; on error the current one stays, whole.
func (g *Gateway) Swap(s Snapshot) error {
	if s.Pipeline == nil {
		return errors.New("gateway: a snapshot needs a pipeline")
	}
	if s.Metadata.BearerMethods == nil {
		s.Metadata.BearerMethods = []string{"header"}
	}
	st := &state{pl: s.Pipeline, meta: s.Metadata}
	t, err := g.table(st, s.Routes)
	if err != nil {
		return err
	}
	st.table = t
	g.current.Store(st)
	return nil
}

// Pipeline is the pipeline requests run now.
func (g *Gateway) Pipeline() *pipeline.Pipeline { return g.current.Load().pl }

// table is one routing table: the routes, and their metadata documents by
// path.
type table struct {
	mux  *http.ServeMux
	docs map[string]*ResourceMetadata
}

// table builds the routing table of st, refusing every route it cannot
// protect.
func (g *Gateway) table(st *state, routes []Route) (*table, error) {
	mux := http.NewServeMux()
	docs := map[string]*ResourceMetadata{}
	base := strings.TrimSuffix(st.meta.Resource, "/")
	var errs []error
	seen := map[string]bool{}
	for i := range routes {
		rt := routes[i] // a copy the handler owns
		switch {
		case rt.ID == "" || seen[rt.ID]:
			errs = append(errs, fmt.Errorf("gateway: route %d: missing or duplicate id %q", i, rt.ID))
			continue
		case rt.Target == nil || rt.Resource.Name == "" || rt.Path == "" || rt.Path[0] != '/':
			errs = append(errs, fmt.Errorf("gateway: route %s: needs a path, a target and a resource", rt.ID))
			continue
		case strings.ContainsAny(rt.Host, "/ {}"):
			errs = append(errs, fmt.Errorf("gateway: route %s: host %q is not a host name", rt.ID, rt.Host))
			continue
		}
		seen[rt.ID] = true
		if rt.Method != "" {
			rt.spanName = rt.Method + " " + rt.Path
		}
		rt.host = g.publicHost
		if rt.Host != "" {
			rt.host = rt.Host
			if g.publicPort != "" {
				rt.host = net.JoinHostPort(rt.Host, g.publicPort)
			}
		}
		if base != "" {
			rt.metaURL = base + metadataPath
			if rt.Metadata != nil {
				rt.metaURL = base + routeDoc(docs, base, rt.Path, rt.Metadata)
			}
		}
		pattern := rt.Host + rt.Path
		if rt.Method != "" {
			pattern = rt.Method + " " + pattern
		}
		if err := register(mux, pattern, g.routeHandler(st.pl, &rt)); err != nil {
			errs = append(errs, fmt.Errorf("gateway: route %s: %w", rt.ID, err))
		}
	}
	return &table{mux: mux, docs: docs}, errors.Join(errs...)
}

// routeDoc adds a route's metadata document under its literal path prefix
// (RFC 9728 §3.1: the well-known path, then the resource's path), merged
// with the documents of other routes under the same prefix, and returns
// its path.
func routeDoc(docs map[string]*ResourceMetadata, base, pattern string, m *ResourceMetadata) string {
	prefix := ""
	for _, seg := range strings.Split(strings.Trim(pattern, "/"), "/") {
		if seg == "" || strings.HasPrefix(seg, "{") {
			break
		}
		prefix += "/" + seg
	}
	path := metadataPath + prefix
	d := docs[path]
	if d == nil {
		d = &ResourceMetadata{Resource: base + prefix, BearerMethods: []string{"header"}, ResourceName: m.ResourceName}
		docs[path] = d
	}
	for _, s := range m.AuthorizationServers {
		if !slices.Contains(d.AuthorizationServers, s) {
			d.AuthorizationServers = append(d.AuthorizationServers, s)
		}
	}
	for _, s := range m.ScopesSupported {
		if !slices.Contains(d.ScopesSupported, s) {
			d.ScopesSupported = append(d.ScopesSupported, s)
		}
	}
	return path
}

// register adds a pattern, turning ServeMux's panics on bad or conflicting
// patterns into errors.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pattern %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Handler serves the routes, the protected-resource metadata and health
// checks. Paths are checked for canonical form before any routing.
func (g *Gateway) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header().Set("X-Request-Id", reqID)
		st := g.current.Load() // one snapshot for the whole request
		path, ok := canonicalPath(r.URL.EscapedPath())
		if !ok {
			g.refuseUnrouted(w, r, st.pl, &pipeline.Refusal{Status: http.StatusBadRequest, Code: "invalid_request",
				Description: "the request path is not in canonical form", RequestID: reqID}, "non_canonical_path")
			return
		}
		if d := st.table.docs[path]; d != nil {
			writeJSON(w, d)
			return
		}
		switch path {
		case metadataPath:
			writeJSON(w, st.meta)
			return
		case "/healthz":
			w.Write([]byte("ok\n"))
			return
		case "/readyz":
			g.ready(w, st.pl, false)
			return
		}
		// Host names are case-insensitive (and may end in a dot): match
		// routes on one form.
		if host := strings.TrimSuffix(strings.ToLower(r.Host), "."); host != r.Host {
			r.Host = host
		}
		if _, pattern := st.table.mux.Handler(r); pattern == "" {
			g.refuseUnrouted(w, r, st.pl, &pipeline.Refusal{Status: http.StatusNotFound, Code: "not_found",
				Description: "no route", RequestID: reqID}, "no_route")
			return
		}
		// ServeHTTP (not the handler Handler returned) sets the path
		// values the route's handler reads.
		st.table.mux.ServeHTTP(w, r.WithContext(requestid.With(r.Context(), reqID)))
	})
}

// AdminHandler serves what operators read, on a listener of its own
// (loopback by default), never on the public one: /metrics (Prometheus),
// /healthz and /readyz.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { g.ready(w, g.Pipeline(), true) })
	if g.cfg.Metrics != nil {
		mux.Handle("GET /metrics", g.cfg.Metrics.handler())
	}
	for pattern, h := range g.cfg.Admin {
		mux.Handle(pattern, h)
	}
	return mux
}

// ready answers /readyz; detail (the admin listener) says what is not
// ready, which the public listener does not tell callers.
func (g *Gateway) ready(w http.ResponseWriter, pl *pipeline.Pipeline, detail bool) {
	if !pl.Ready() {
		http.Error(w, "issuer keys not loaded", http.StatusServiceUnavailable)
		return
	}
	if g.cfg.Ready != nil {
		if err := g.cfg.Ready(); err != nil {
			msg := "not ready"
			if detail {
				msg = err.Error()
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ok\n"))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// refuseUnrouted answers a request that reached no route, after recording
// its event: the trail has every request but the public documents
// (health, RFC 9728 metadata).
func (g *Gateway) refuseUnrouted(w http.ResponseWriter, r *http.Request, pl *pipeline.Pipeline, ref *pipeline.Refusal, class string) {
	start := g.now()
	if pl.Tracing() {
		var span trace.Span
		r, span = traceUnrouted(pl, requestWithID(r, ref.RequestID), ref, class)
		defer span.End()
	}
	if err := pl.Unrouted(r.Context(), ref.RequestID, ref.Status, class); err != nil {
		ref = unavailable(ref.RequestID)
	}
	writeRefusal(w, ref)
	g.cfg.Metrics.observe("", ref.Status, audit.DecisionError, g.now().Sub(start))
}

// requestWithID is r in a context that carries its request id.
func requestWithID(r *http.Request, id string) *http.Request {
	return r.WithContext(requestid.With(r.Context(), id))
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// action is the route's action, or by the request's method when unset.
func action(rt *Route, r *http.Request) string {
	if rt.Action != "" {
		return rt.Action
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return authz.ActionRead
	}
	return authz.ActionWrite
}

func routeKey(rt *Route) string {
	if rt.Method == "" {
		return "ANY " + rt.Path
	}
	return rt.Method + " " + rt.Path
}

// pathParams reads the pattern's wildcards from the matched request.
func pathParams(r *http.Request, pattern string) map[string]string {
	var out map[string]string
	for _, seg := range bytes.Split([]byte(pattern), []byte("/")) {
		if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
			name := string(bytes.TrimSuffix(seg[1:len(seg)-1], []byte("...")))
			if out == nil {
				out = map[string]string{}
			}
			out[name] = r.PathValue(name)
		}
	}
	return out
}

// clientIP is the TCP peer; forwarding headers are not trusted here.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
