package creds

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/mint"
)

// Session is a set of temporary AWS credentials for one role, with what STS
// recorded about it. A Session returned by the Broker may be shared between
// requests through the cache: treat it (and its Tags) as read-only.
type Session struct {
	Credentials aws.Credentials
	// RoleARN is the IAM role that was assumed.
	RoleARN string
	// SessionName is the RoleSessionName sent to STS (the last part of
	// AssumedRoleARN, and what CloudTrail shows).
	SessionName string
	// SourceIdentity is the source identity STS reports for the session
	// ("" in web_identity mode unless the caller's issuer set one).
	SourceIdentity string
	// AssumedRoleARN is arn:aws:sts::{account}:assumed-role/{role}/{session}.
	AssumedRoleARN string
	// Tags are the session tags sent (broker: in the token; assume_role: as
	// parameters). Empty in web_identity mode.
	Tags map[string]string
}

// String describes the session without its secret key or session token.
func (s *Session) String() string {
	return fmt.Sprintf("creds.Session{%s expires %s}", s.AssumedRoleARN, s.Credentials.Expires.UTC().Format("2006-01-02T15:04:05Z"))
}

// LogValue logs the session without its secret key or session token.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("assumed_role_arn", s.AssumedRoleARN),
		slog.String("session_name", s.SessionName),
		slog.String("source_identity", s.SourceIdentity),
		slog.String("access_key_id", s.Credentials.AccessKeyID),
		slog.Time("expires", s.Credentials.Expires),
	)
}

// pseudonymDomain separates gatehouse's pseudonyms from any other use of
// the same hash; the version lets the scheme change without collisions.
const pseudonymDomain = "gatehouse/creds/pseudonym/v1\x00"

// Pseudonym returns the stable pseudonymous id gatehouse gives a principal
// in AWS: the unpadded base64url of SHA-256 over a domain string and the
// principal's identity, cut to 22 characters (132 bits). The identity is
// (tenant, object id) when the principal has a tenant, which is Entra's own
// immutable identity and the same for v1.0 and v2.0 tokens of one user, and
// (issuer, subject) otherwise. It contains only [A-Za-z0-9_-], so it is a
// valid session name, source identity and tag value.
//
// It is a pseudonym, not an anonymisation: whoever holds the directory can
// recompute it for every user, which is how an operator goes from a
// CloudTrail entry back to a person. An issuer configured with a tenant
// claim must not be able to claim another directory's tenant id.
func Pseudonym(p *authn.Principal) string {
	h := sha256.New()
	if p.Tenant != "" {
		h.Write([]byte(pseudonymDomain + "tid\x00" + strings.ToLower(p.Tenant) + "\x00" + canonicalSubject(p.Subject)))
	} else {
		h.Write([]byte(pseudonymDomain + "iss\x00" + p.Issuer + "\x00" + p.Subject))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:22]
}

// canonicalSubject lower-cases a GUID subject (GUIDs compare
// case-insensitively); any other subject is kept as is.
func canonicalSubject(s string) string {
	if authn.IsGUID(s) {
		return strings.ToLower(s)
	}
	return s
}

// sessionName is the RoleSessionName for p: the Entra object id when p has
// a tenant and a GUID subject (an opaque directory id an administrator can
// look up), otherwise the pseudonym. A subject is never passed through just
// because it fits STS's character set: an email address does.
func sessionName(p *authn.Principal) string {
	if p.Tenant != "" && authn.IsGUID(p.Subject) {
		return strings.ToLower(p.Subject)
	}
	return Pseudonym(p)
}

// validSessionName reports whether s satisfies STS's RoleSessionName and
// SourceIdentity rules: 2–64 characters of [\w+=,.@-].
func validSessionName(s string) bool {
	if len(s) < 2 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return false
		}
	}
	return true
}

// subject is the `sub` of a minted token: "role:<role>:<pseudonym>", so a
// trust policy pins the role with StringLike "role:<role>:*" (role names
// contain no ':' or wildcard characters; New checks).
func subject(role string, p *authn.Principal) string {
	return "role:" + role + ":" + Pseudonym(p)
}

// webIdentity is what broker mode's token for p under r says: aud
// Audience, sub "role:<r.Name>:<Pseudonym(p)>", the pseudonym as source
// identity (none with r.NoSourceIdentity) and tags, all of them transitive.
// It holds no name, UPN or email.
func webIdentity(p *authn.Principal, r *role, tags []tag) mint.WebIdentity {
	id := mint.WebIdentity{Audience: Audience, Subject: subject(r.Name, p)}
	if !r.NoSourceIdentity {
		id.SourceIdentity = Pseudonym(p)
	}
	if len(tags) > 0 {
		id.Tags = make([]mint.Tag, len(tags))
		for i, t := range tags {
			id.Tags[i] = mint.Tag{Key: t.Key, Value: t.Value}
		}
	}
	return id
}

// Session tag keys, in the order they are emitted.
const (
	TagTenant = "tenant" // the principal's tenant id (Entra tid)
	TagKind   = "kind"   // "user" or "app"
	TagAgent  = "agent"  // the agent acting for the principal (client id or actor subject)
	TagApp    = "app"    // the calling client's id
	TagGroups = "groups" // chosen groups, as ":a:b:" of their short names (Role.GroupTags)
)

var tagOrder = [...]string{TagTenant, TagKind, TagAgent, TagApp, TagGroups}

// defaultTags are the facts tagged when Role.SessionTags is nil.
var defaultTags = []string{TagTenant, TagKind, TagAgent}

// tag is one session tag.
type tag struct{ Key, Value string }

// tags returns the session tags of p for role r, in tagOrder. A fact that
// is empty is left out (no agent tag when nobody acts for the principal, no
// groups tag when none of the chosen groups apply or membership is unknown),
// so a policy can test for the tag's presence.
func (r *role) tags(p *authn.Principal) []tag {
	return r.appendTags(make([]tag, 0, len(r.tagKeys)), p)
}

// appendTags appends the session tags of p for role r to out.
func (r *role) appendTags(out []tag, p *authn.Principal) []tag {
	for _, k := range r.tagKeys {
		var v string
		switch k {
		case TagTenant:
			v = p.Tenant
		case TagKind:
			v = string(p.Kind)
		case TagAgent:
			v = p.Agent()
		case TagApp:
			v = p.App
		case TagGroups:
			v = r.groupsValue(p)
		}
		if v != "" {
			out = append(out, tag{k, tagValue(v)})
		}
	}
	return out
}

// groupsValue joins the short names of the chosen groups p is in, sorted,
// as ":a:b:" so that StringLike "*:a:*" matches exactly group a. With group
// overage membership is unknown and no value is given.
func (r *role) groupsValue(p *authn.Principal) string {
	if p.GroupsOverage || len(r.GroupTags) == 0 {
		return ""
	}
	var names []string
	for _, g := range p.Groups {
		if n, ok := r.GroupTags[strings.ToLower(g)]; ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return ":" + strings.Join(names, ":") + ":"
}

// hashedTagPrefix marks a tag value that had to be rewritten. Values that
// start with it are rewritten too, so a rewritten value never equals a value
// that passed unchanged.
const hashedTagPrefix = "h:"

// tagValue returns v if it is a valid session tag value (0–256 characters
// of [\p{L}\p{Z}\p{N}_.:/=+\-@], spec §7). Otherwise it returns
// "h:" + 22 characters of base64url SHA-256 of v + ":" + v with every other
// character replaced by '_', cut to 256 characters: readable, and distinct
// for distinct inputs.
func tagValue(v string) string {
	if validTagValue(v) && !strings.HasPrefix(v, hashedTagPrefix) {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	var b strings.Builder
	b.WriteString(hashedTagPrefix)
	b.WriteString(base64.RawURLEncoding.EncodeToString(sum[:])[:22])
	b.WriteByte(':')
	n := utf8.RuneCountInString(b.String())
	for _, r := range v {
		if n == 256 {
			break
		}
		if !tagRune(r) {
			r = '_'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func validTagValue(v string) bool {
	// Fast path: short ASCII values, which is what tenant, kind, agent and
	// app ids are.
	if len(v) <= 256 {
		ascii := true
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
			if !tagASCII[c] {
				return false
			}
		}
		if ascii {
			return true
		}
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > 256 {
		return false
	}
	for _, r := range v {
		if !tagRune(r) {
			return false
		}
	}
	return true
}

// tagASCII is tagRune for ASCII.
var tagASCII = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		c := rune(c)
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ' ' || strings.ContainsRune("_.:/=+-@", c)
	}
	return t
}()

// validTagKey reports whether k is a valid session tag key: 1–128
// characters of the value character set, not starting with "aws:".
func validTagKey(k string) bool {
	return k != "" && utf8.RuneCountInString(k) <= 128 && validTagValue(k) && !strings.HasPrefix(strings.ToLower(k), "aws:")
}

func tagRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && tagASCII[r]
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Z, r))
}

// tagMap returns tags as a map, for Session.Tags.
func tagMap(tags []tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}
