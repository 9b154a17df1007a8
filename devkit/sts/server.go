package sts

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gatehouse-dev/gatehouse/authn"
)

const (
	// namespace is the XML namespace of every STS response (spec §1).
	namespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// apiVersion is the only Version this STS speaks.
	apiVersion = "2011-06-15"
	// maxBodyBytes bounds a request body: a 20000-character token, a
	// 2048-character policy and 50 tags of up to 384 characters each fit
	// with room for percent-encoding.
	maxBodyBytes = 512 << 10
	// verifyTimeout bounds fetching a provider's discovery document and JWKS.
	verifyTimeout = 15 * time.Second
	// tokenLeeway is the clock skew IAM allows past a token's exp (spec §5).
	tokenLeeway = 5 * time.Minute
)

// tokenAlgorithms are the JWS algorithms STS accepts (spec §2, §5).
var tokenAlgorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

// Server is a running local STS. Its providers and roles are fixed at New;
// issued sessions live in memory only (up to 100,000; sessions expired for
// more than an hour are dropped, and at capacity the one closest to expiry
// makes room). It needs no Close.
type Server struct {
	account   string
	region    string
	providers map[string]*provider // by issuer URL (the exact `iss`)
	roles     map[string]*role     // by role ARN
	verifier  *authn.Verifier      // nil when no provider is configured
	sessions  *sessionStore
	signer    *v4.Signer
	now       func() time.Time
	log       *slog.Logger
	handler   http.Handler

	randMu sync.Mutex
	rand   io.Reader
}

type provider struct {
	url, name, arn string
	clientIDs      map[string]bool
}

type role struct {
	name        string // as configured, path included
	shortName   string // the last path segment: the assumed-role ARN's role
	arn         string
	id          string // AROA…, the stable role id
	trust       *policy
	maxDuration time.Duration
	invoke      []string
	policy      *permPolicy // nil when the role has no identity policy
	policyDoc   string

	index    int    // in Config.Roles, for configuration errors
	trustDoc []byte // the policy until New has parsed it
}

var (
	regionPattern      = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)
	roleSegmentPattern = regexp.MustCompile(`^[\w+=,.@-]+$`)
)

// New validates the configuration (every problem is reported, joined) and
// parses every trust policy. It does no I/O: provider keys are fetched on
// first use.
func New(cfg Config) (*Server, error) {
	var errs []error
	account := cfg.AccountID
	if account == "" {
		account = "000000000000"
	} else if !accountPattern.MatchString(account) {
		errs = append(errs, fieldErrorf("AccountID", "%q is not 12 digits", cfg.AccountID))
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	} else if !regionPattern.MatchString(region) {
		errs = append(errs, fieldErrorf("Region", "%q is not a region name such as us-east-1", cfg.Region))
	}
	s := &Server{
		account:   account,
		region:    region,
		providers: map[string]*provider{},
		roles:     map[string]*role{},
		sessions:  newSessionStore(defaultMaxSessions),
		signer:    v4.NewSigner(),
		now:       cfg.Now,
		log:       cfg.Logger,
		rand:      cfg.Rand,
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

	env := &policyEnv{account: account, providers: map[string]bool{}, roleARNs: map[string]bool{}, roleNames: map[string]bool{}}
	var issuers []authn.IssuerConfig
	for i, p := range cfg.Providers {
		pv, err := newProvider(p, account)
		if err != nil {
			errs = append(errs, &fieldError{fmt.Sprintf("Providers[%d]", i), err})
			continue
		}
		if s.providers[pv.url] != nil {
			errs = append(errs, fieldErrorf(fmt.Sprintf("Providers[%d]", i), "%s is configured twice", pv.url))
			continue
		}
		s.providers[pv.url] = pv
		env.providers[strings.ToLower(pv.name)] = true
		env.providerARNs = append(env.providerARNs, pv.arn)
		issuers = append(issuers, authn.IssuerConfig{
			Name:       pv.name,
			Type:       authn.TypeOIDC,
			Issuer:     pv.url,
			Audiences:  p.ClientIDs,
			Algorithms: tokenAlgorithms,
			Leeway:     tokenLeeway,
			// A token whose kid is unknown makes the keys be fetched again
			// at most every 10 s: a provider's key rotation is followed
			// within seconds.
			MinRefreshInterval: authn.MinRefreshIntervalFloor,
		})
	}
	var roles []*role
	for i, r := range cfg.Roles {
		rl, err := newRole(r, i, account)
		if err != nil {
			errs = append(errs, &fieldError{fmt.Sprintf("Roles[%d]", i), err})
			continue
		}
		if env.roleNames[strings.ToLower(rl.shortName)] {
			errs = append(errs, fieldErrorf(fmt.Sprintf("Roles[%d]", i), "role name %q is used twice (role names are unique in an account, whatever the path)", rl.shortName))
			continue
		}
		env.roleNames[strings.ToLower(rl.shortName)] = true
		env.roleARNs[rl.arn] = true
		roles = append(roles, rl)
		s.roles[rl.arn] = rl
	}
	// Trust policies may name any role, so they are parsed once all are known.
	for _, rl := range roles {
		p, err := parseTrustPolicy(rl.trustDoc, env)
		if err != nil {
			errs = append(errs, &fieldError{fmt.Sprintf("Roles[%d] %s", rl.index, rl.name), fmt.Errorf("%s: %w", codeMalformedPolicyDocument, err)})
		}
		rl.trust, rl.trustDoc = p, nil
	}
	if len(issuers) > 0 {
		v, err := authn.NewVerifier(authn.Config{
			Issuers:       issuers,
			MaxTokenBytes: maxTokenChars,
			HTTPClient:    cfg.HTTPClient,
			Now:           s.now,
			Logger:        s.log,
		})
		if err != nil {
			errs = append(errs, &fieldError{"Providers", err})
		}
		s.verifier = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sts: invalid configuration:\n%w", err)
	}
	s.handler = http.HandlerFunc(s.serve)
	return s, nil
}

// fieldError is a configuration problem of one Config field.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func fieldErrorf(field, format string, args ...any) error {
	return &fieldError{field, fmt.Errorf(format, args...)}
}

func newProvider(p Provider, account string) (*provider, error) {
	u, err := url.Parse(p.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.Contains(p.URL, "?") || strings.Contains(p.URL, "#") {
		return nil, fmt.Errorf("URL %q: want an https URL without user, query or fragment", p.URL)
	}
	name := strings.TrimPrefix(p.URL, "https://")
	if len(p.ClientIDs) == 0 || len(p.ClientIDs) > 100 {
		return nil, fmt.Errorf("%s: want 1 to 100 client ids", p.URL)
	}
	ids := map[string]bool{}
	for _, id := range p.ClientIDs {
		if id == "" || len(id) > 255 {
			return nil, fmt.Errorf("%s: client id %q: want 1 to 255 characters", p.URL, id)
		}
		ids[id] = true
	}
	return &provider{url: p.URL, name: name, arn: "arn:aws:iam::" + account + ":oidc-provider/" + name, clientIDs: ids}, nil
}

func newRole(r Role, index int, account string) (*role, error) {
	segs := strings.Split(r.Name, "/")
	for _, seg := range segs {
		if !roleSegmentPattern.MatchString(seg) {
			return nil, fieldErrorf("Name", "%q: want [path/]name, each part of [A-Za-z0-9+=,.@_-]", r.Name)
		}
	}
	short := segs[len(segs)-1]
	if len(short) > 64 || len(r.Name) > 512 {
		return nil, fieldErrorf("Name", "%q: role names have at most 64 characters, paths 512", r.Name)
	}
	maxDur := r.MaxSessionDuration
	if maxDur == 0 {
		maxDur = time.Hour
	}
	if maxDur < time.Hour || maxDur > 12*time.Hour || maxDur%time.Second != 0 {
		return nil, fmt.Errorf("%s: MaxSessionDuration %v: want whole seconds from 1h to 12h", r.Name, r.MaxSessionDuration)
	}
	for _, f := range r.Invoke {
		if f == "" || strings.ContainsFunc(f, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			return nil, fmt.Errorf("%s: Invoke: %q is not a function name or pattern", r.Name, f)
		}
	}
	var perm *permPolicy
	if r.Policy != nil {
		p, err := parseIdentityPolicy(r.Policy)
		if err != nil {
			return nil, fmt.Errorf("%s: Policy: %s: %w", r.Name, codeMalformedPolicyDocument, err)
		}
		perm = p
	}
	arn := "arn:aws:iam::" + account + ":role/" + r.Name
	sum := sha256.Sum256([]byte("gatehouse-sts-role\x00" + arn))
	return &role{
		name:        r.Name,
		shortName:   short,
		arn:         arn,
		id:          "AROA" + base32.StdEncoding.EncodeToString(sum[:])[:17],
		maxDuration: maxDur,
		invoke:      append([]string(nil), r.Invoke...),
		policy:      perm,
		policyDoc:   string(r.Policy),
		index:       index,
		trustDoc:    r.TrustPolicy,
	}, nil
}

// Handler serves the STS Query protocol: POST / with a form body naming
// Action=AssumeRoleWithWebIdentity (unsigned), AssumeRole or
// GetCallerIdentity (both SigV4-signed for service "sts" in the configured
// region). Every response carries x-amzn-RequestId; refusals are AWS error
// XML with the status STS uses.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	reqID := s.requestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	action := ""
	defer func() {
		// Nothing a caller sends should get here; if it does, the caller
		// gets a 500 with the request id and the server keeps running.
		if v := recover(); v != nil {
			s.log.Error("sts: panic serving request", "request_id", reqID, "action", action, "panic", fmt.Sprint(v))
			s.writeError(w, reqID, action, newError(codeInternalFailure, "An internal error occurred."))
		}
	}()
	if r.URL.Path != "/" {
		s.writeError(w, reqID, "", newError(codeNotFound, "The STS endpoint is POST /."))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, reqID, "", newError(codeMethodNotAllowed, "The STS endpoint accepts POST only."))
		return
	}
	body, p, err := readForm(w, r)
	if err != nil {
		s.writeError(w, reqID, "", asError(err))
		return
	}
	action = p.first("Action")
	res, err := s.dispatch(r, body, p)
	if err != nil {
		s.writeError(w, reqID, action, asError(err))
		return
	}
	s.writeResult(w, reqID, action, res)
}

func (s *Server) dispatch(r *http.Request, body []byte, p params) (any, error) {
	action, ok := p.get("Action")
	if !ok || action == "" {
		return nil, newError(codeMissingAction, "Missing Action")
	}
	if v, _ := p.get("Version"); v != apiVersion {
		return nil, newError(codeInvalidAction, "Could not find operation %s for version %s", safeEcho(action), safeEcho(v))
	}
	switch action {
	case "AssumeRoleWithWebIdentity":
		return s.assumeRoleWithWebIdentity(r.Context(), p)
	case "AssumeRole":
		caller, err := s.Authenticate(r, body, "sts")
		if err != nil {
			return nil, err
		}
		return s.assumeRole(caller, p)
	case "GetCallerIdentity":
		caller, err := s.Authenticate(r, body, "sts")
		if err != nil {
			return nil, err
		}
		return callerIdentity(s.account, caller), nil
	}
	return nil, newError(codeInvalidAction, "Could not find operation %s for version %s", safeEcho(action), apiVersion)
}

// readForm reads the size-limited form body. Every parameter may appear
// once: two values for one name are refused, never resolved silently.
func readForm(w http.ResponseWriter, r *http.Request) ([]byte, params, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, params{}, newError(codeValidationError, "The request body must be application/x-www-form-urlencoded.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, params{}, newError(codeRequestTooLarge, "The request body is larger than %d bytes.", maxBodyBytes)
		}
		return nil, params{}, newError(codeValidationError, "The request body could not be read.").withCause(err)
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, params{}, newError(codeValidationError, "The request body is not a valid form.")
	}
	for k, vals := range v {
		if len(vals) > 1 {
			return nil, params{}, newError(codeValidationError, "Parameter %s is given more than once.", safeEcho(k))
		}
	}
	return body, params{v}, nil
}

// envelope is a Query protocol success body.
type envelope struct {
	XMLName  xml.Name
	Result   any
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

func (s *Server) writeResult(w http.ResponseWriter, reqID, action string, res any) {
	var buf bytes.Buffer
	env := envelope{XMLName: xml.Name{Space: namespace, Local: action + "Response"}, Result: res, Metadata: responseMetadata{reqID}}
	if err := xml.NewEncoder(&buf).Encode(env); err != nil {
		s.writeError(w, reqID, action, newError(codeInternalFailure, "An internal error occurred.").withCause(err))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) writeError(w http.ResponseWriter, reqID, action string, e *Error) {
	typ := "Sender"
	level := slog.LevelInfo
	if e.Status >= 500 {
		typ, level = "Receiver", slog.LevelError
	}
	attrs := []any{"request_id", reqID, "code", e.Code, "message", e.Message}
	if action != "" {
		attrs = append(attrs, "action", safeEcho(action))
	}
	if e.Err != nil {
		attrs = append(attrs, "err", e.Err.Error())
	}
	s.log.Log(context.Background(), level, "sts: request refused", attrs...)
	var buf bytes.Buffer
	_ = xml.NewEncoder(&buf).Encode(errorResponse{
		Error:     errorDetail{Type: typ, Code: e.Code, Message: e.Message},
		RequestID: reqID,
	})
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Status)
	_, _ = w.Write(buf.Bytes())
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

// requestID returns a random (version 4) UUID; if Rand fails, the nil UUID,
// which is only ever a diagnostic id.
func (s *Server) requestID() string {
	b, err := s.random(16)
	if err != nil {
		return "00000000-0000-0000-0000-000000000000"
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// safeEcho makes a caller-supplied value fit for an error message or log
// line: printable ASCII only, at most 64 characters.
func safeEcho(s string) string {
	const max = 64
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}
