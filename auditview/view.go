package auditview

import (
	"bytes"
	"context"
	"crypto"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// ErrNotBrowsable is returned by New for a store that cannot be browsed
// (it is no audit.Browser: the JSON-lines writer, say).
var ErrNotBrowsable = errors.New("auditview: this audit store cannot be browsed: the view reads SQLite, PostgreSQL or a captured JSON-lines file")

// Config configures a View.
type Config struct {
	// Store is the trail; it must be an audit.Browser. The View does not
	// close it.
	Store audit.Sink
	// ResolveUser turns what an auditor typed in the user filter (a UPN, a
	// name or an object id, with a tenant when one is given) into the
	// pseudonyms the trail names that person by, one per pseudonym key.
	// nil means users cannot be named: the filter takes pseudonyms only.
	ResolveUser func(user, tenant string) ([]string, error)
	// Agents names agents by client id, for display, and so the agent
	// filter takes a name: configuration data, not personal data.
	Agents map[string]string
	// Routes and Roles are offered as suggestions in the filters; any
	// value may still be typed.
	Routes, Roles []string
	// VerifyKey is the checkpoints' public key (a crypto.PublicKey, or a
	// []crypto.PublicKey after rotations); nil checks hash chains only,
	// and the page says so, giving VerifyKeyNote as the reason.
	VerifyKey     crypto.PublicKey
	VerifyKeyNote string
	// Store describes the trail on the page, e.g. "SQLite"; "" shows none.
	StoreName string
	// Prefix is the path the view is served under, ending in "/"; ""
	// means "/".
	Prefix string
	// Now: nil means time.Now.
	Now func() time.Time
	// Logger: nil means slog.Default().
	Logger *slog.Logger
}

// View serves the auditor's view. See the package documentation.
type View struct {
	cfg     Config
	store   audit.Browser
	handler http.Handler
	verify  *verifier
	byName  map[string]string // agent name -> client id
}

//go:embed templates static
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"f1":        func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"addf":      func(a, b float64) float64 { return a + b },
	"dec":       func(n int64) int64 { return n - 1 },
	"short":     shortKey,
	"when":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"micro":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") },
	"num":       groupDigits,
	"decisions": func() []string { return []string{audit.DecisionAllow, audit.DecisionDeny, audit.DecisionError} },
	"pageSizes": func() []int { return []int{25, 50, 100, 200, 500} },
	"topOf": func(caption, id string, c topChart) topFigure {
		return topFigure{Caption: caption, ID: id, Chart: c}
	},
}).ParseFS(files, "templates/*.html"))

// topFigure is what the "top" template draws.
type topFigure struct {
	Caption, ID string
	Chart       topChart
}

// New checks cfg and returns the View. Start runs the first verification.
func New(cfg Config) (*View, error) {
	b, ok := cfg.Store.(audit.Browser)
	if !ok || cfg.Store == nil {
		return nil, ErrNotBrowsable
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/"
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || !strings.HasSuffix(cfg.Prefix, "/") || strings.ContainsAny(cfg.Prefix, "{}?# ") {
		return nil, fmt.Errorf("auditview: prefix %q: want a path that starts and ends with /", cfg.Prefix)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v := &View{cfg: cfg, store: b, byName: map[string]string{}}
	for id, name := range cfg.Agents {
		if name != "" {
			v.byName[strings.ToLower(name)] = id
		}
	}
	v.verify = &verifier{store: cfg.Store, key: cfg.VerifyKey, now: cfg.Now,
		onErr: func(err error) { cfg.Logger.Error("auditview: verifying the trail failed", "err", err) }}

	static, _ := fs.Sub(files, "static")
	p := cfg.Prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"{$}", v.index)
	mux.HandleFunc("GET "+p+"event/{pos}", v.event)
	mux.HandleFunc("GET "+p+"export.csv", v.export)
	mux.HandleFunc("GET "+p+"export.jsonl", v.export)
	mux.HandleFunc("POST "+p+"verify", v.reverify)
	mux.Handle("GET "+p+"style.css", http.StripPrefix(p, http.FileServerFS(static)))
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { v.fail(w, http.StatusNotFound, "no such page") })
	v.handler = v.secure(http.NewCrossOriginProtection().Handler(mux))
	return v, nil
}

// Start runs the first verification in the background; re-verifications
// asked for later run under ctx too, and stop with it.
func (v *View) Start(ctx context.Context) {
	v.verify.mu.Lock()
	v.verify.ctx = ctx
	v.verify.mu.Unlock()
	v.verify.start()
}

// Verified returns when the last verification finished and whether it
// found the trail intact; zero before the first one finishes.
func (v *View) Verified() (time.Time, bool) {
	last, _ := v.verify.state()
	if last == nil {
		return time.Time{}, false
	}
	return last.Finished, last.Intact()
}

// ServeHTTP serves the view.
func (v *View) ServeHTTP(w http.ResponseWriter, r *http.Request) { v.handler.ServeHTTP(w, r) }

// csp allows no script at all, styles from the view itself, and no
// framing.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the headers every answer carries and refuses a Host that is
// not loopback: a page of another site whose name resolves to 127.0.0.1
// (DNS rebinding) is not the view's origin.
func (v *View) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !LoopbackHost(r.Host) {
			v.fail(w, http.StatusMisdirectedRequest, "the auditor's view answers on a loopback address or localhost only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// LoopbackHost reports whether host (a Host header or host:port) names a
// loopback address or localhost.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// page is what every page shows.
type page struct {
	Title   string
	Prefix  string
	Store   string
	Verify  verifyView
	Refresh bool // reload while a verification runs
	Error   string
}

func (v *View) page(title string) page {
	vv := v.verifyView()
	return page{Title: title, Prefix: v.cfg.Prefix, Store: v.cfg.StoreName, Verify: vv, Refresh: vv.Running}
}

// render executes a template into a buffer first, so a failure answers
// 500 rather than half a page.
func (v *View) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		v.cfg.Logger.Error("auditview: rendering", "template", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (v *View) fail(w http.ResponseWriter, status int, msg string) {
	p := v.page(http.StatusText(status))
	p.Error = msg
	p.Refresh = false
	v.render(w, status, "error.html", p)
}

// storeFailed answers a store error: 500, with the detail in the log only.
func (v *View) storeFailed(w http.ResponseWriter, err error) {
	v.cfg.Logger.Error("auditview: reading the trail", "err", err)
	v.fail(w, http.StatusInternalServerError, "the trail could not be read; the log says why")
}

// url is the view's page (or sub-page) with the query q.
func (v *View) url(sub string, q url.Values) string {
	u := v.cfg.Prefix + sub
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// reverify starts a verification and returns to the page (no redirect
// but to the view itself).
func (v *View) reverify(w http.ResponseWriter, r *http.Request) {
	v.verify.start()
	p, _, err := parseParams(r.URL.Query(), v.cfg.Now())
	q := url.Values{}
	if err == nil {
		q = p.values()
	}
	http.Redirect(w, r, v.url("", q), http.StatusSeeOther)
}

// resolve turns the user of a request into pseudonyms and redirects to the
// page that names them instead: the name appears in no page and no later
// URL.
func (v *View) resolve(w http.ResponseWriter, r *http.Request, p params, uq userQuery) {
	if v.cfg.ResolveUser == nil {
		v.fail(w, http.StatusBadRequest, "this view cannot turn a user into pseudonyms (no pseudonym key): filter by pseudonym")
		return
	}
	ps, err := v.cfg.ResolveUser(uq.User, uq.Tenant)
	if err != nil || len(ps) == 0 {
		// The error quotes the name: say what to do instead.
		v.fail(w, http.StatusBadRequest, "no such user: give a development user's UPN or name, or an object id with its tenant id")
		return
	}
	p.Principals = ps
	http.Redirect(w, r, v.url("", p.values()), http.StatusSeeOther)
}

// agentKey is what the agent filter looks for: a known agent's client id
// when given its name, else the value as typed (a client id or a
// pseudonym).
func (v *View) agentKey(s string) string {
	if id, ok := v.byName[strings.ToLower(s)]; ok {
		return id
	}
	return s
}

// agentLabel names an agent for display.
func (v *View) agentLabel(key string) string {
	if name := v.cfg.Agents[key]; name != "" {
		return name
	}
	return shortKey(key)
}

// shortKey shortens a pseudonym or an id for a table cell, at a rune
// boundary.
func shortKey(s string) string {
	if len(s) <= 16 {
		return s
	}
	cut := 14
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// groupDigits writes an integer with separators: 1,000,000.
func groupDigits(n any) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// parallel runs fns at once and returns the first error.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
