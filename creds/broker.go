package creds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/mint"
)

// Mode is how a role's credentials are obtained.
type Mode string

const (
	// ModeBroker: gatehouse mints a web-identity token (Config.Issuer) and
	// calls AssumeRoleWithWebIdentity with it. The default.
	ModeBroker Mode = "broker"
	// ModeWebIdentity: AssumeRoleWithWebIdentity with the caller's own token.
	ModeWebIdentity Mode = "web_identity"
	// ModeAssumeRole: AssumeRole with the STS client's ambient credentials.
	ModeAssumeRole Mode = "assume_role"
)

// Role maps a logical role to an IAM role and says how to assume it.
type Role struct {
	// Name is the logical role (authz Decision.Role): a letter, then
	// letters, digits, '.', '_' or '-', at most 64. Required and unique.
	Name string
	// ARN is the IAM role's ARN. Required.
	ARN string
	// Mode is how the role is assumed; "" means ModeBroker.
	Mode Mode
	// Duration is the session duration; 0 means 1 h. 15 min to 12 h, and
	// not above the IAM role's maximum session duration (STS refuses it);
	// at most 1 h in assume_role mode when gatehouse's own identity is
	// itself a role session (role chaining).
	Duration time.Duration
	// SessionTags lists the facts that become session tags: TagTenant,
	// TagKind, TagAgent, TagApp, TagGroups. nil means tenant, kind and
	// agent; an empty non-nil slice means none. Ignored in web_identity
	// mode, where only the caller's issuer can set tags.
	SessionTags []string
	// GroupTags maps group object ids to the short names the "groups" tag
	// carries; only these groups are tagged. Names are 1–64 characters of
	// [A-Za-z0-9_.+=@/-]. Required when SessionTags has TagGroups.
	GroupTags map[string]string
	// NoSourceIdentity leaves the session without a source identity
	// (broker and assume_role modes): for sessions that are no caller's
	// own, such as a function's execution role, which Lambda issues without
	// one. A source identity, once set, can never change, so such a
	// session could not assume a role for a caller with the caller's.
	NoSourceIdentity bool
}

// STSClient is what the Broker needs of the AWS SDK's *sts.Client. The
// caller builds the client: its endpoint (the regional STS, or the local
// one) and, for assume_role roles, its ambient credentials.
// AssumeRoleWithWebIdentity needs no credentials.
type STSClient interface {
	AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error)
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

var _ STSClient = (*sts.Client)(nil)

// Config configures a Broker. Zero values mean the documented defaults.
type Config struct {
	Roles []Role
	// Issuer mints broker-mode tokens; required when a role is in broker mode.
	Issuer *mint.Issuer
	// STS is the STS client; required.
	STS STSClient
	// CacheEntries bounds the session cache; 0 means 10000, negative
	// disables caching (and with it serving cached sessions through an
	// STS outage).
	CacheEntries int
	// RefreshMargin is how long before expiry a cached session is
	// refreshed; 0 means 5 min. It must be below every role's Duration.
	RefreshMargin time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default(). Tokens, secret keys and session
	// tokens are never logged.
	Logger *slog.Logger
}

// Request asks for credentials for one principal under one role.
type Request struct {
	Principal *authn.Principal
	Role      string // the logical role an authorization decision granted
	// Token is the caller's raw access token, for web_identity roles only.
	// It is sent to STS and nowhere else; it is never logged or cached.
	Token string
	// SessionName, when set, is the RoleSessionName (2–64 of [\w+=,.@-]),
	// for workloads that are not people, such as a function's execution
	// role; "" means one derived from the principal (never personal data).
	SessionName string
	// SessionPolicy is an optional inline session policy (JSON, at most
	// 2048 bytes) narrowing the role, such as InvokePolicy(functionARN).
	// Part of the cache key.
	SessionPolicy string
}

// LogValue logs the request without the caller's token.
func (r Request) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("role", r.Role), slog.Bool("token", r.Token != ""), slog.Int("session_policy_bytes", len(r.SessionPolicy))}
	if r.Principal != nil {
		attrs = append(attrs, slog.String("principal", Pseudonym(r.Principal)))
	}
	return slog.GroupValue(attrs...)
}

// String describes the request without the caller's token.
func (r Request) String() string {
	return fmt.Sprintf("creds.Request{role %q, token %v, session policy %d bytes}", r.Role, r.Token != "", len(r.SessionPolicy))
}

const (
	defaultCacheEntries  = 10000
	defaultRefreshMargin = 5 * time.Minute
	defaultDuration      = time.Hour
	minDuration          = 15 * time.Minute
	maxDuration          = 12 * time.Hour
	// stsTimeout bounds one STS call (the SDK's retries included). The call
	// is shared by every request waiting on it, so it does not end with
	// the first caller's context.
	stsTimeout = 30 * time.Second
	// Backoff after transient STS failures: doubles from minBackoff up to
	// maxBackoff while failures continue.
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
	// credentialSource is aws.Credentials.Source of brokered sessions.
	credentialSource = "gatehouse/creds"
)

// role is a Role checked and prepared by New.
type role struct {
	Role
	tagKeys  []string // selected facts, in tagOrder
	duration int32    // seconds
}

// Broker obtains and caches role sessions. It is safe for concurrent use.
type Broker struct {
	roles   map[string]*role
	issuer  *mint.Issuer
	sts     STSClient
	cache   *cache
	margin  time.Duration
	now     func() time.Time
	log     *slog.Logger
	flights singleflight.Group
	backoff map[Mode]*backoff
	misses  atomic.Int64 // requests that found no fresh session (for tests and metrics)
	hits    atomic.Int64 // requests served from the cache
	calls   atomic.Int64 // STS calls made
	failed  atomic.Int64 // STS calls that failed
}

// New checks cfg (every problem is reported, joined) and returns a Broker.
// It makes no network calls.
func New(cfg Config) (*Broker, error) {
	b := &Broker{
		roles:   make(map[string]*role, len(cfg.Roles)),
		issuer:  cfg.Issuer,
		sts:     cfg.STS,
		margin:  cfg.RefreshMargin,
		now:     cfg.Now,
		log:     cfg.Logger,
		backoff: map[Mode]*backoff{ModeBroker: {}, ModeWebIdentity: {}, ModeAssumeRole: {}},
	}
	var errs []error
	if cfg.STS == nil {
		errs = append(errs, errors.New("creds: STS client is required"))
	}
	if b.margin == 0 {
		b.margin = defaultRefreshMargin
	}
	if b.margin < 0 {
		errs = append(errs, fmt.Errorf("creds: refresh margin %v is negative", cfg.RefreshMargin))
	}
	for i, rc := range cfg.Roles {
		r, err := compileRole(rc)
		if err != nil {
			errs = append(errs, fmt.Errorf("creds: roles[%d]: %w", i, err))
			continue
		}
		if b.roles[r.Name] != nil {
			errs = append(errs, fmt.Errorf("creds: roles[%d]: role %q defined twice", i, r.Name))
		}
		if r.Mode == ModeBroker && cfg.Issuer == nil {
			errs = append(errs, fmt.Errorf("creds: role %q: broker mode needs an Issuer", r.Name))
		}
		if time.Duration(r.duration)*time.Second <= b.margin {
			errs = append(errs, fmt.Errorf("creds: role %q: duration %v is not above the refresh margin %v", r.Name, time.Duration(r.duration)*time.Second, b.margin))
		}
		b.roles[r.Name] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	n := cfg.CacheEntries
	if n == 0 {
		n = defaultCacheEntries
	}
	b.cache = newCache(n)
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	return b, nil
}

// compileRole checks one Role and prepares it.
func compileRole(rc Role) (*role, error) {
	r := &role{Role: rc}
	var errs []error
	if !validRoleName(rc.Name) {
		errs = append(errs, fmt.Errorf("role name %q: want a letter, then letters, digits, '.', '_' or '-', at most 64", rc.Name))
	}
	if !validRoleARN(rc.ARN) {
		errs = append(errs, fmt.Errorf("role %q: ARN %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", rc.Name, rc.ARN))
	}
	switch rc.Mode {
	case "":
		r.Mode = ModeBroker
	case ModeBroker, ModeWebIdentity, ModeAssumeRole:
	default:
		errs = append(errs, fmt.Errorf("role %q: unknown mode %q (want %s, %s or %s)", rc.Name, rc.Mode, ModeBroker, ModeWebIdentity, ModeAssumeRole))
	}
	d := rc.Duration
	if d == 0 {
		d = defaultDuration
	}
	if d < minDuration || d > maxDuration || d%time.Second != 0 {
		errs = append(errs, fmt.Errorf("role %q: duration %v: want whole seconds from %v to %v", rc.Name, rc.Duration, minDuration, maxDuration))
	}
	r.duration = int32(d / time.Second)
	selected := rc.SessionTags
	if selected == nil {
		selected = defaultTags
	}
	for _, k := range selected {
		if !slices.Contains(tagOrder[:], k) {
			errs = append(errs, fmt.Errorf("role %q: unknown session tag %q (want tenant, kind, agent, app or groups)", rc.Name, k))
		}
	}
	for _, k := range tagOrder {
		if slices.Contains(selected, k) {
			r.tagKeys = append(r.tagKeys, k)
		}
	}
	if slices.Contains(r.tagKeys, TagGroups) && len(rc.GroupTags) == 0 {
		errs = append(errs, fmt.Errorf("role %q: the groups session tag needs GroupTags", rc.Name))
	}
	if len(rc.GroupTags) > 0 {
		r.GroupTags = make(map[string]string, len(rc.GroupTags))
		total := 1
		for id, name := range rc.GroupTags {
			if !validGroupTagName(name) {
				errs = append(errs, fmt.Errorf("role %q: group tag name %q for %s: want 1–64 characters of [A-Za-z0-9_.+=@/-]", rc.Name, name, id))
			}
			if id == "" {
				errs = append(errs, fmt.Errorf("role %q: group tag %q has no group id", rc.Name, name))
			}
			r.GroupTags[strings.ToLower(id)] = name
			total += len(name) + 1
		}
		if total > 256 {
			errs = append(errs, fmt.Errorf("role %q: group tag names total %d characters joined; a tag value holds 256", rc.Name, total))
		}
	}
	return r, errors.Join(errs...)
}

func validRoleName(s string) bool {
	if s == "" || len(s) > 64 || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validRoleARN accepts arn:<partition>:iam::<12 digits>:role/<path/name>,
// 20–2048 characters.
func validRoleARN(s string) bool {
	if len(s) < 20 || len(s) > 2048 {
		return false
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "iam" || parts[3] != "" {
		return false
	}
	if len(parts[4]) != 12 || strings.Trim(parts[4], "0123456789") != "" {
		return false
	}
	name, ok := strings.CutPrefix(parts[5], "role/")
	if !ok || name == "" || strings.HasSuffix(name, "/") {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("+=,.@_-/", c)) {
			return false
		}
	}
	return true
}

func validGroupTagName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.+=@/-", c) >= 0) {
			return false
		}
	}
	return true
}

// Credentials returns a session for req.Principal under req.Role: from the
// cache while it is fresh, otherwise from STS (one call however many
// requests wait for the same key; each waiter still honours its own ctx).
//
// Errors: ErrNoPrincipal, ErrUnknownRole, ErrNoToken, ErrSessionPolicy
// (wrapped) for a bad request; *Error with Status 403 when STS refuses the
// role, 503 when STS throttles or is unreachable. During a 503 a cached
// session that has not yet expired is returned instead of the error.
func (b *Broker) Credentials(ctx context.Context, req Request) (*Session, error) {
	p := req.Principal
	if p == nil {
		return nil, ErrNoPrincipal
	}
	r := b.roles[req.Role]
	if r == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownRole, req.Role)
	}
	if r.Mode == ModeWebIdentity && req.Token == "" {
		return nil, ErrNoToken
	}
	// The hit path allocates nothing: tags and key live in these buffers
	// (a map lookup with string(key) does not copy).
	var tagBuf [len(tagOrder)]tag
	var keyBuf [512]byte
	tags := r.appendTags(tagBuf[:0], p)
	if req.SessionName != "" && !validSessionName(req.SessionName) {
		return nil, fmt.Errorf("%w: %q", ErrSessionName, req.SessionName)
	}
	key := appendKey(keyBuf[:0], r.Name, p, tags, req.SessionPolicy, req.SessionName)
	now := b.now()
	e := b.cache.get(key)
	if e != nil {
		if now.Before(e.refreshAt) {
			b.hits.Add(1)
			return e.sess, nil
		}
		if now.Before(e.expires) && now.UnixNano() < e.retryAt.Load() {
			b.hits.Add(1)
			return e.sess, nil // refresh failed a moment ago: serve it while it is valid
		}
	}
	return b.miss(ctx, r, req, slices.Clone(tags), string(key), e)
}

// miss obtains a session from STS for a key that is not cached or due for
// refresh (e is then the cached entry), serving e instead of a 503 while it
// is still valid.
func (b *Broker) miss(ctx context.Context, r *role, req Request, tags []tag, key string, e *entry) (*Session, error) {
	b.misses.Add(1)
	if err := checkSessionPolicy(req.SessionPolicy); err != nil {
		return nil, err
	}
	sess, err := b.fetch(ctx, key, r, req, tags)
	if err == nil {
		return sess, nil
	}
	var ce *Error
	if e != nil && errors.As(err, &ce) {
		switch now := b.now(); {
		case ce.Status == http.StatusServiceUnavailable && now.Before(e.expires):
			e.retryAt.Store(now.Add(ce.RetryAfter).UnixNano())
			b.log.WarnContext(ctx, "creds: STS unavailable; serving the cached session until it expires",
				"role", r.Name, "session_name", e.sess.SessionName, "expires", e.expires, "code", ce.Code, "err", ce.Err)
			return e.sess, nil
		case ce.Status == http.StatusForbidden:
			b.cache.remove(e) // the role now refuses: stop serving it
		}
	}
	return nil, err
}

// fetch calls STS once for key, however many requests ask concurrently.
func (b *Broker) fetch(ctx context.Context, key string, r *role, req Request, tags []tag) (*Session, error) {
	ch := b.flights.DoChan(key, func() (any, error) {
		// A flight that finished just before this one started may have
		// filled the cache already.
		if e := b.cache.get([]byte(key)); e != nil && b.now().Before(e.refreshAt) {
			return e.sess, nil
		}
		bo := b.backoff[r.Mode]
		if wait := bo.remaining(b.now()); wait > 0 {
			return nil, &Error{Status: http.StatusServiceUnavailable, Role: r.Name,
				Reason: "AWS STS is unavailable, retry later", RetryAfter: wait, Err: errBackoff}
		}
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stsTimeout)
		defer cancel()
		b.calls.Add(1)
		sess, err := b.assume(callCtx, r, req, tags)
		now := b.now()
		if err != nil {
			b.failed.Add(1)
			ce := classify(r.Name, err)
			if ce.Status == http.StatusServiceUnavailable {
				ce.RetryAfter = bo.failed(now)
			}
			b.log.WarnContext(callCtx, "creds: STS refused or failed", "role", r.Name, "mode", string(r.Mode),
				"status", ce.Status, "code", ce.Code, "retry_after", ce.RetryAfter, "err", err)
			return nil, ce
		}
		bo.succeeded()
		exp := sess.Credentials.Expires
		refreshAt := exp.Add(-b.margin)
		if !refreshAt.After(now) {
			refreshAt = now.Add(exp.Sub(now) / 2)
		}
		b.cache.put(&entry{key: key, sess: sess, refreshAt: refreshAt, expires: exp})
		b.log.DebugContext(callCtx, "creds: session issued", "role", r.Name, "mode", string(r.Mode), "session", sess)
		return sess, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Session), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// assume makes the STS call of r's mode.
func (b *Broker) assume(ctx context.Context, r *role, req Request, tags []tag) (*Session, error) {
	p := req.Principal
	name := req.SessionName
	if name == "" {
		name = sessionName(p)
	}
	var policy *string
	if req.SessionPolicy != "" {
		policy = aws.String(req.SessionPolicy)
	}
	sess := &Session{RoleARN: r.ARN, SessionName: name}
	var (
		creds   *types.Credentials
		user    *types.AssumedRoleUser
		srcID   *string
		callErr error
	)
	switch r.Mode {
	case ModeBroker, ModeWebIdentity:
		token := req.Token
		if r.Mode == ModeBroker {
			var err error
			if token, err = b.issuer.Mint(webIdentity(p, r, tags), b.now()); err != nil {
				return nil, err
			}
			sess.Tags = tagMap(tags)
		}
		out, err := b.sts.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn:          aws.String(r.ARN),
			RoleSessionName:  aws.String(name),
			WebIdentityToken: aws.String(token),
			DurationSeconds:  aws.Int32(r.duration),
			Policy:           policy,
		})
		if callErr = err; err == nil {
			creds, user, srcID = out.Credentials, out.AssumedRoleUser, out.SourceIdentity
		}
	case ModeAssumeRole:
		in := &sts.AssumeRoleInput{
			RoleArn:         aws.String(r.ARN),
			RoleSessionName: aws.String(name),
			DurationSeconds: aws.Int32(r.duration),
			Policy:          policy,
		}
		if !r.NoSourceIdentity {
			in.SourceIdentity = aws.String(Pseudonym(p))
		}
		for _, t := range tags {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
			in.TransitiveTagKeys = append(in.TransitiveTagKeys, t.Key)
		}
		sess.Tags = tagMap(tags)
		out, err := b.sts.AssumeRole(ctx, in)
		if callErr = err; err == nil {
			creds, user, srcID = out.Credentials, out.AssumedRoleUser, out.SourceIdentity
		}
	}
	if callErr != nil {
		return nil, callErr
	}
	if creds == nil || creds.AccessKeyId == nil || creds.SecretAccessKey == nil || creds.SessionToken == nil || creds.Expiration == nil {
		return nil, errors.New("creds: STS response has no complete credentials")
	}
	sess.Credentials = aws.Credentials{
		AccessKeyID:     *creds.AccessKeyId,
		SecretAccessKey: *creds.SecretAccessKey,
		SessionToken:    *creds.SessionToken,
		Source:          credentialSource,
		CanExpire:       true,
		Expires:         *creds.Expiration,
	}
	if user != nil {
		sess.AssumedRoleARN = aws.ToString(user.Arn)
		if acct, ok := accountOf(sess.AssumedRoleARN); ok {
			sess.Credentials.AccountID = acct
		}
	}
	sess.SourceIdentity = aws.ToString(srcID)
	return sess, nil
}

// accountOf returns the account id field of an ARN.
func accountOf(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || len(parts[4]) != 12 {
		return "", false
	}
	return parts[4], true
}

// backoff spaces out STS calls of one mode after transient failures.
type backoff struct {
	mu    sync.Mutex
	until time.Time
	delay time.Duration
}

// remaining returns how long calls must still wait.
func (bo *backoff) remaining(now time.Time) time.Duration {
	bo.mu.Lock()
	defer bo.mu.Unlock()
	if now.Before(bo.until) {
		return bo.until.Sub(now)
	}
	return 0
}

// failed records a transient failure and returns the wait before the next call.
func (bo *backoff) failed(now time.Time) time.Duration {
	bo.mu.Lock()
	defer bo.mu.Unlock()
	bo.delay = min(max(2*bo.delay, minBackoff), maxBackoff)
	bo.until = now.Add(bo.delay)
	return bo.delay
}

func (bo *backoff) succeeded() {
	bo.mu.Lock()
	bo.until, bo.delay = time.Time{}, 0
	bo.mu.Unlock()
}
