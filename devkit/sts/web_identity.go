package sts

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"math"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// The claims in which an issuer passes session tags and a source identity
// (spec §7, §8).
const (
	claimTags           = "https://aws.amazon.com/tags"
	claimSourceIdentity = "https://aws.amazon.com/source_identity"
)

type credentialsXML struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUserXML struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type webIdentityResult struct {
	XMLName                     xml.Name           `xml:"AssumeRoleWithWebIdentityResult"`
	Credentials                 credentialsXML     `xml:"Credentials"`
	SubjectFromWebIdentityToken string             `xml:"SubjectFromWebIdentityToken"`
	AssumedRoleUser             assumedRoleUserXML `xml:"AssumedRoleUser"`
	PackedPolicySize            *int               `xml:"PackedPolicySize,omitempty"`
	Provider                    string             `xml:"Provider"`
	Audience                    string             `xml:"Audience"`
	SourceIdentity              string             `xml:"SourceIdentity,omitempty"`
	SessionTokenSize            int                `xml:"SessionTokenSize"`
	SessionTokenUtilization     int                `xml:"SessionTokenUtilization"`
}

// webIdentity is what a verified web identity token says.
type webIdentity struct {
	provider       *provider
	subject        string
	audience       string   // the token audience that is one of the provider's client ids
	amr            []string // nil when the token has none
	azp            string
	tags           []tag
	transitive     []string
	sourceIdentity string
}

// assumeRoleWithWebIdentity: parameters (spec §2), then the token, then
// the role's trust policy, then the session.
func (s *Server) assumeRoleWithWebIdentity(ctx context.Context, p params) (any, error) {
	roleARN, err := p.required("RoleArn", "roleArn", 20, 2048)
	if err != nil {
		return nil, err
	}
	sessionName, err := p.sessionName()
	if err != nil {
		return nil, err
	}
	token, err := p.required("WebIdentityToken", "webIdentityToken", 4, maxTokenChars)
	if err != nil {
		return nil, err
	}
	if _, ok := p.get("ProviderId"); ok {
		return nil, newError(codeInvalidParameterValue, "ProviderId is for the OAuth 2.0 providers www.amazon.com and graph.facebook.com only; this STS trusts OpenID Connect providers.")
	}
	duration, err := p.duration()
	if err != nil {
		return nil, err
	}
	policy, arns, err := p.sessionPolicies()
	if err != nil {
		return nil, err
	}
	minToken, err := p.minTokenSize()
	if err != nil {
		return nil, err
	}

	id, err := s.verifyWebIdentity(ctx, token)
	if err != nil {
		return nil, err
	}
	tags, transitive, msg := checkTags(id.tags, id.transitive)
	if msg != "" {
		return nil, newError(codeIDPRejectedClaim, "The %s claim is invalid: %s.", claimTags, msg)
	}

	rl := s.roles[roleARN]
	denied := newError(codeAccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity on %s", safeEcho(roleARN))
	if rl == nil {
		return nil, denied.withCause(errUnknownRole)
	}
	rc := &requestContext{federated: id.provider.arn, keys: map[string][]string{}}
	name := id.provider.name
	rc.set(name+":aud", id.audience)
	rc.set(name+":sub", id.subject)
	if id.amr != nil {
		rc.set(name+":amr", id.amr...)
	}
	if id.azp != "" {
		rc.set(name+":azp", id.azp)
	}
	rc.set("aws:FederatedProvider", id.provider.arn)
	rc.set("sts:RoleSessionName", sessionName)
	if id.sourceIdentity != "" {
		rc.set("sts:SourceIdentity", id.sourceIdentity)
	}
	setTagKeys(rc, tags, transitive)
	if err := s.authorize(rl, "sts:AssumeRoleWithWebIdentity", rc, len(tags) > 0, id.sourceIdentity != "", denied); err != nil {
		return nil, err
	}
	if duration > rl.maxDuration {
		return nil, newError(codeValidationError, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	is, err := s.issue(rl, issueRequest{
		sessionName:    sessionName,
		sourceIdentity: id.sourceIdentity,
		tags:           tags,
		transitive:     transitive,
		policy:         policy,
		policyArns:     arns,
		duration:       duration,
		minTokenSize:   minToken,
	})
	if err != nil {
		return nil, err
	}
	sess := is.sess
	s.log.Info("sts: session issued", "action", "AssumeRoleWithWebIdentity", "role", rl.arn, "session", sess.SessionName,
		"provider", id.provider.name, "subject", id.subject, "source_identity", sess.SourceIdentity,
		"access_key_id", sess.AccessKeyID, "expiration", sess.Expiration)
	return webIdentityResult{
		Credentials:                 credentialsOf(sess),
		SubjectFromWebIdentityToken: id.subject,
		AssumedRoleUser:             assumedRoleUserXML{AssumedRoleID: sess.AssumedRoleID, Arn: sess.AssumedRoleARN},
		PackedPolicySize:            is.packedPolicySize,
		Provider:                    id.provider.arn,
		Audience:                    id.audience,
		SourceIdentity:              sess.SourceIdentity,
		SessionTokenSize:            is.tokenSize,
		SessionTokenUtilization:     is.tokenUtilization,
	}, nil
}

// verifyWebIdentity verifies the token against its provider's discovery
// document and JWKS (the token's `iss` picks the provider) and reads the
// claims STS uses.
func (s *Server) verifyWebIdentity(ctx context.Context, raw string) (*webIdentity, error) {
	if s.verifier == nil {
		return nil, newError(codeInvalidIdentityToken, "No OpenIDConnect provider found in your account for the token's issuer.")
	}
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	pr, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, tokenError(err, raw)
	}
	c := pr.Claims
	id := &webIdentity{provider: s.providers[pr.Issuer]}
	if id.provider == nil { // the verifier trusts exactly our providers
		return nil, newError(codeInvalidIdentityToken, "No OpenIDConnect provider found in your account for the token's issuer.")
	}
	for _, name := range []string{"exp", "iat", "nbf", "auth_time"} {
		if f, ok := c[name].(float64); ok && f != math.Trunc(f) {
			return nil, newError(codeInvalidIdentityToken, "The token's %s is not an integer.", name)
		}
	}
	id.subject, _ = c["sub"].(string)
	if id.subject == "" {
		return nil, newError(codeInvalidIdentityToken, "The token has no sub claim.")
	}
	for _, a := range stringOrStrings(c["aud"]) {
		if id.provider.clientIDs[a] {
			id.audience = a
			break
		}
	}
	if id.audience == "" {
		return nil, newError(codeInvalidIdentityToken, "Incorrect token audience")
	}
	if v, ok := c["amr"]; ok {
		id.amr = stringOrStrings(v)
		if id.amr == nil {
			return nil, newError(codeInvalidIdentityToken, "The token's amr claim is not a string or a list of strings.")
		}
	}
	if v, ok := c["azp"]; ok {
		if id.azp, ok = v.(string); !ok {
			return nil, newError(codeInvalidIdentityToken, "The token's azp claim is not a string.")
		}
	}
	if err := readTagsClaim(c, id); err != nil {
		return nil, err
	}
	if v, ok := c[claimSourceIdentity]; ok {
		si, isString := v.(string)
		if !isString {
			return nil, newError(codeIDPRejectedClaim, "The %s claim must be a string.", claimSourceIdentity)
		}
		if msg := checkSourceIdentity(si); msg != "" {
			return nil, newError(codeIDPRejectedClaim, "The %s claim is invalid: %s.", claimSourceIdentity, msg)
		}
		id.sourceIdentity = si
	}
	return id, nil
}

// readTagsClaim reads {"principal_tags": {"key": ["value"]},
// "transitive_tag_keys": ["key"]}: each tag has exactly one value, as STS
// has no multi-valued session tags (spec §7).
func readTagsClaim(c map[string]any, id *webIdentity) error {
	v, ok := c[claimTags]
	if !ok {
		return nil
	}
	reject := func(why string) error {
		return newError(codeIDPRejectedClaim, "The %s claim is invalid: %s.", claimTags, why)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return reject("it must be an object")
	}
	for k := range m {
		if k != "principal_tags" && k != "transitive_tag_keys" {
			return reject("unknown member " + safeEcho(k))
		}
	}
	if pt, ok := m["principal_tags"]; ok {
		tags, ok := pt.(map[string]any)
		if !ok {
			return reject("principal_tags must be an object")
		}
		for _, k := range sortedKeys(tags) {
			vals, ok := tags[k].([]any)
			if !ok || len(vals) != 1 {
				return reject("each principal tag must be an array of exactly one string")
			}
			s, ok := vals[0].(string)
			if !ok {
				return reject("each principal tag must be an array of exactly one string")
			}
			id.tags = append(id.tags, tag{k, s})
		}
	}
	if tk, ok := m["transitive_tag_keys"]; ok {
		_, isList := tk.([]any)
		keys := stringOrStrings(tk)
		if !isList || keys == nil {
			return reject("transitive_tag_keys must be an array of strings")
		}
		id.transitive = keys
	}
	return nil
}

// tokenError maps a verification failure to the STS error (spec §4).
// Signature and format failures come first in the verifier, so "expired"
// is only ever said of a token whose signature verified.
func tokenError(err error, raw string) *Error {
	ae := authn.AsError(err)
	switch {
	case ae.Kind == authn.Unavailable:
		return newError(codeIDPCommunicationError, "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements").withCause(err)
	case ae.Check == authn.CheckIssuer:
		return newError(codeInvalidIdentityToken, "No OpenIDConnect provider found in your account for the token's issuer.").withCause(err)
	case ae.Check == authn.CheckAudience:
		return newError(codeInvalidIdentityToken, "Incorrect token audience").withCause(err)
	case ae.Check == authn.CheckExpiry && hasNumericExp(raw):
		return newError(codeExpiredTokenException, "Token expired: current date/time must be before the expiration date/time.").withCause(err)
	}
	return newError(codeInvalidIdentityToken, "The web identity token could not be validated: %s (%s check).", ae.Reason, ae.Check).withCause(err)
}

// hasNumericExp reports whether the token's payload has a numeric exp: the
// verifier's exp check failed either because the token expired or because
// exp is missing or malformed, and only the first is ExpiredTokenException.
// Called only after the signature verified.
func hasNumericExp(raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Exp any `json:"exp"`
	}
	if json.Unmarshal(b, &c, json.RejectUnknownMembers(false)) != nil {
		return false
	}
	_, ok := c.Exp.(float64)
	return ok
}

// stringOrStrings reads a claim that is a string or an array of strings;
// nil when it is neither.
func stringOrStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}
