package creds

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Audience is the `aud` of every web-identity token broker mode mints, and
// the client id to register on the IAM OIDC provider for gatehouse's issuer.
const Audience = "sts.amazonaws.com"

// TrustParams are the account-side names a role's trust policy refers to.
type TrustParams struct {
	// AccountID is the 12-digit account holding the IAM OIDC provider.
	AccountID string
	// Partition is the ARN partition; "" means "aws".
	Partition string
	// IssuerURL is gatehouse's issuer (mint.Issuer.URL); broker mode.
	IssuerURL string
	// ProviderURL is the issuer of the callers' tokens, registered as an
	// IAM OIDC provider, e.g. https://login.microsoftonline.com/<tid>/v2.0;
	// web_identity mode.
	ProviderURL string
	// Audience is the callers' token audience: the client id of the API
	// the tokens are for; web_identity mode. Required there.
	Audience string
	// Subjects optionally pins the `sub` values allowed (Entra: pairwise
	// per API, so one user's sub for that API); web_identity mode.
	Subjects []string
	// Clients optionally pins the client apps (`azp` of Entra v2.0 tokens)
	// whose tokens are accepted; web_identity mode.
	Clients []string
	// Principal is the ARN of gatehouse's own IAM role (its ambient
	// identity); assume_role mode.
	Principal string
}

// TrustPolicy returns the IAM trust policy (AssumeRolePolicyDocument) that
// lets gatehouse obtain sessions for r in its mode, and nothing more:
//
//   - broker: the gatehouse OIDC provider may assume the role with
//     sts:AssumeRoleWithWebIdentity, sts:TagSession and
//     sts:SetSourceIdentity when aud is "sts.amazonaws.com" and sub is
//     StringLike "role:<r.Name>:*" (so no other role's token opens it), and
//     only with the session tag keys r emits.
//   - web_identity: the callers' provider may assume it with
//     sts:AssumeRoleWithWebIdentity when aud is Audience (and sub one of
//     Subjects, azp one of Clients, if given). The tenant is pinned by the
//     provider URL. No sts:TagSession: a token carrying tags is refused.
//   - assume_role: Principal may assume it with sts:AssumeRole,
//     sts:TagSession and sts:SetSourceIdentity when a source identity is
//     set, and only with the session tag keys r emits.
func TrustPolicy(r Role, p TrustParams) ([]byte, error) {
	rc, err := compileRole(r)
	if err != nil {
		return nil, err
	}
	if len(p.AccountID) != 12 || strings.Trim(p.AccountID, "0123456789") != "" {
		return nil, fmt.Errorf("creds: account id %q: want 12 digits", p.AccountID)
	}
	part := p.Partition
	if part == "" {
		part = "aws"
	}
	type stmt struct {
		Effect    string                    `json:"Effect"`
		Principal map[string]string         `json:"Principal"`
		Action    []string                  `json:"Action"`
		Condition map[string]map[string]any `json:"Condition,omitempty"`
	}
	s := stmt{Effect: "Allow", Condition: map[string]map[string]any{}}
	cond := func(op, key string, v any) {
		if s.Condition[op] == nil {
			s.Condition[op] = map[string]any{}
		}
		s.Condition[op][key] = v
	}
	// Tags need sts:TagSession; a role that emits none gets neither the
	// action nor a tag-key condition, so no tags can be set on it.
	tagged := func(actions ...string) []string {
		if len(rc.tagKeys) == 0 {
			return actions
		}
		cond("ForAllValues:StringEquals", "aws:TagKeys", rc.tagKeys)
		return append(actions, "sts:TagSession")
	}
	switch rc.Mode {
	case ModeBroker:
		name, err := providerName(p.IssuerURL)
		if err != nil {
			return nil, err
		}
		s.Principal = map[string]string{"Federated": "arn:" + part + ":iam::" + p.AccountID + ":oidc-provider/" + name}
		s.Action = tagged("sts:AssumeRoleWithWebIdentity", "sts:SetSourceIdentity")
		cond("StringEquals", name+":aud", Audience)
		cond("StringLike", name+":sub", "role:"+rc.Name+":*")
	case ModeWebIdentity:
		name, err := providerName(p.ProviderURL)
		if err != nil {
			return nil, err
		}
		if p.Audience == "" {
			return nil, errors.New("creds: web_identity trust policy needs the API's client id (Audience)")
		}
		s.Principal = map[string]string{"Federated": "arn:" + part + ":iam::" + p.AccountID + ":oidc-provider/" + name}
		s.Action = []string{"sts:AssumeRoleWithWebIdentity"}
		cond("StringEquals", name+":aud", p.Audience)
		if len(p.Subjects) > 0 {
			cond("StringEquals", name+":sub", p.Subjects)
		}
		if len(p.Clients) > 0 {
			cond("StringEquals", name+":azp", p.Clients)
		}
	case ModeAssumeRole:
		if !strings.HasPrefix(p.Principal, "arn:") {
			return nil, fmt.Errorf("creds: assume_role trust policy needs gatehouse's role ARN (Principal), got %q", p.Principal)
		}
		s.Principal = map[string]string{"AWS": p.Principal}
		s.Action = tagged("sts:AssumeRole", "sts:SetSourceIdentity")
		cond("Null", "sts:SourceIdentity", "false")
	}
	return json.MarshalIndent(struct {
		Version   string `json:"Version"`
		Statement []stmt `json:"Statement"`
	}{"2012-10-17", []stmt{s}}, "", "  ")
}

// providerName is the IAM name of an OIDC provider: its URL without
// "https://" (the ARN suffix and the condition-key prefix).
func providerName(u string) (string, error) {
	name, ok := strings.CutPrefix(u, "https://")
	if !ok || name == "" || strings.ContainsAny(name, "?#") {
		return "", fmt.Errorf("creds: provider URL %q: want https://host[/path]", u)
	}
	return name, nil
}
