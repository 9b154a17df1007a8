package sts

import (
	"encoding/xml"
	"strings"
	"unicode/utf8"
)

type assumeRoleResult struct {
	XMLName          xml.Name           `xml:"AssumeRoleResult"`
	Credentials      credentialsXML     `xml:"Credentials"`
	AssumedRoleUser  assumedRoleUserXML `xml:"AssumedRoleUser"`
	PackedPolicySize *int               `xml:"PackedPolicySize,omitempty"`
	SourceIdentity   string             `xml:"SourceIdentity,omitempty"`
	SessionTokenSize int                `xml:"SessionTokenSize"`
	// SessionTokenUtilization is the percentage of the 4096-byte maximum
	// the session token uses.
	SessionTokenUtilization int `xml:"SessionTokenUtilization"`
}

// assumeRole is role chaining: the caller is a session issued here (its
// SigV4 signature already checked). The role's trust policy must name the
// caller's role, session or account under Principal.AWS (spec §9). The
// caller's own permission to call sts:AssumeRole is not modelled: roles
// here have no permission policies beyond Invoke.
func (s *Server) assumeRole(caller *Session, p params) (any, error) {
	roleARN, err := p.required("RoleArn", "roleArn", 20, 2048)
	if err != nil {
		return nil, err
	}
	sessionName, err := p.sessionName()
	if err != nil {
		return nil, err
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
	for k := range p.v {
		for _, unsupported := range []string{"SerialNumber", "TokenCode", "ProvidedContexts"} {
			if k == unsupported || strings.HasPrefix(k, unsupported+".") {
				return nil, newError(codeInvalidParameterValue, "%s is not supported by this STS (no MFA devices or trusted context providers).", unsupported)
			}
		}
	}
	externalID, hasExternalID := p.get("ExternalId")
	if hasExternalID && (utf8.RuneCountInString(externalID) < 2 || utf8.RuneCountInString(externalID) > 1224 || !externalIDPattern.MatchString(externalID)) {
		return nil, validation("externalId", `Member must have length between 2 and 1224 and satisfy regular expression pattern: [\w+=,.@:/-]*`)
	}
	requestedSI, hasSI := p.get("SourceIdentity")
	if hasSI {
		if msg := checkSourceIdentity(requestedSI); msg != "" {
			return nil, validation("sourceIdentity", msg)
		}
	}
	reqTags, reqTransitive, err := p.tags()
	if err != nil {
		return nil, err
	}

	// Source identity is set once and then persists through role chaining.
	sourceIdentity := caller.SourceIdentity
	if hasSI {
		if sourceIdentity != "" && requestedSI != sourceIdentity {
			return nil, newError(codeAccessDenied, "The source identity of a session cannot be changed once set.")
		}
		sourceIdentity = requestedSI
	}
	// Transitive tags of the caller carry over and cannot be overridden.
	var all []tag
	var transitive []string
	for _, k := range caller.TransitiveTagKeys {
		if v, ok := caller.Tags[k]; ok {
			all = append(all, tag{k, v})
			transitive = append(transitive, k)
		}
	}
	for _, t := range reqTags {
		for _, k := range transitive {
			if strings.EqualFold(k, t.key) {
				return nil, newError(codeInvalidParameterValue, "Tag key %s is a transitive tag of the calling session and cannot be overridden.", safeEcho(t.key))
			}
		}
	}
	all = append(all, reqTags...)
	transitive = append(transitive, reqTransitive...)
	tags, transitive, msg := checkTags(all, transitive)
	if msg != "" {
		return nil, newError(codeInvalidParameterValue, "Invalid session tags: %s.", msg)
	}

	rl := s.roles[roleARN]
	denied := newError(codeAccessDenied, "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.AssumedRoleARN, safeEcho(roleARN))
	if rl == nil {
		return nil, denied.withCause(errUnknownRole)
	}
	rc := &requestContext{
		aws:  []string{caller.RoleARN, caller.AssumedRoleARN, s.account, "arn:aws:iam::" + s.account + ":root"},
		keys: map[string][]string{},
	}
	rc.set("aws:PrincipalArn", caller.RoleARN)
	rc.set("aws:PrincipalAccount", s.account)
	rc.set("aws:PrincipalType", "AssumedRole")
	for k, v := range caller.Tags {
		rc.set("aws:PrincipalTag/"+k, v)
	}
	if caller.SourceIdentity != "" {
		rc.set("aws:SourceIdentity", caller.SourceIdentity)
	}
	if sourceIdentity != "" {
		rc.set("sts:SourceIdentity", sourceIdentity)
	}
	rc.set("sts:RoleSessionName", sessionName)
	if hasExternalID {
		rc.set("sts:ExternalId", externalID)
	}
	setTagKeys(rc, tags, transitive)
	if err := s.authorize(rl, "sts:AssumeRole", rc, len(tags) > 0, sourceIdentity != "", denied); err != nil {
		return nil, err
	}
	if duration > roleChainingMaxTime {
		return nil, newError(codeValidationError, "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if duration > rl.maxDuration {
		return nil, newError(codeValidationError, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	is, err := s.issue(rl, issueRequest{
		sessionName:    sessionName,
		sourceIdentity: sourceIdentity,
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
	s.log.Info("sts: session issued", "action", "AssumeRole", "role", rl.arn, "session", sess.SessionName,
		"caller", caller.AssumedRoleARN, "source_identity", sess.SourceIdentity,
		"access_key_id", sess.AccessKeyID, "expiration", sess.Expiration)
	return assumeRoleResult{
		Credentials:             credentialsOf(sess),
		AssumedRoleUser:         assumedRoleUserXML{AssumedRoleID: sess.AssumedRoleID, Arn: sess.AssumedRoleARN},
		PackedPolicySize:        is.packedPolicySize,
		SourceIdentity:          sess.SourceIdentity,
		SessionTokenSize:        is.tokenSize,
		SessionTokenUtilization: is.tokenUtilization,
	}, nil
}

// tags reads Tags.member.N.Key/Value and TransitiveTagKeys.member.N.
func (p params) tags() ([]tag, []string, error) {
	members, err := p.members("Tags", []string{"Key", "Value"}, maxTags, "tags")
	if err != nil {
		return nil, nil, err
	}
	tags := make([]tag, 0, len(members))
	for _, m := range members {
		k, ok := m["Key"]
		if !ok {
			return nil, nil, validation("tags.member.key", "Member must not be null")
		}
		v, ok := m["Value"]
		if !ok {
			return nil, nil, validation("tags.member.value", "Member must not be null")
		}
		tags = append(tags, tag{k, v})
	}
	keys, err := p.members("TransitiveTagKeys", nil, maxTags, "transitiveTagKeys")
	if err != nil {
		return nil, nil, err
	}
	transitive := make([]string, 0, len(keys))
	for _, m := range keys {
		transitive = append(transitive, m[""])
	}
	return tags, transitive, nil
}
