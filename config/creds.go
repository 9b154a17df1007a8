package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Creds is the `creds:` section: how a decision's logical role becomes
// short-lived AWS credentials. Each logical role of authz.roles is served
// in Mode unless creds.roles names it with another.
type Creds struct {
	// Mode is the default for every role: broker (gatehouse mints a web
	// identity token from its own issuer), web_identity (the caller's own
	// token) or assume_role (gatehouse's ambient AWS identity); "" means
	// broker.
	Mode string `yaml:"mode"`
	// Issuer is gatehouse's own OIDC issuer, which broker mode needs.
	Issuer CredsIssuer `yaml:"issuer,omitempty"`
	// STS says where STS is.
	STS STSEndpoint `yaml:"sts,omitempty"`
	// Duration is the default session duration; 0 means 1h (15m to 12h).
	Duration time.Duration `yaml:"duration"`
	// SessionTags are the facts tagged on every session: tenant, kind,
	// agent, app, groups; empty means [tenant, kind, agent].
	SessionTags []string `yaml:"session_tags"`
	// CacheEntries bounds the credential cache; 0 means 10000.
	CacheEntries int `yaml:"cache_entries"`
	// Roles override the defaults per logical role.
	Roles []CredsRole `yaml:"roles,omitempty"`
}

// CredsIssuer is gatehouse's issuer for AWS: its discovery document and
// keys are what an IAM OIDC provider points at.
type CredsIssuer struct {
	// URL is the https issuer URL; "" in `gatehouse dev` means the dev
	// gateway's URL. Required for broker mode under `gatehouse serve`.
	URL string `yaml:"url,omitempty"`
	// KeyDir holds the signing keys (or, with SigningKey, the record of
	// the vault key versions published); "" means <state dir>/issuer.
	KeyDir string `yaml:"key_dir,omitempty"`
	// SigningKey, when set, keeps the signing key in AWS KMS or Azure Key
	// Vault instead of KeyDir: gatehouse signs through the vault.
	SigningKey KeyRef `yaml:"signing_key,omitempty"`
	// PublishAhead is how long a new version of SigningKey is published in
	// the JWKS before it signs: at least secrets.refresh_interval plus 10%
	// (so every replica publishes it first), plus as long as verifiers
	// cache the JWKS. 0 means that + 10m.
	PublishAhead time.Duration `yaml:"publish_ahead,omitempty"`
}

// STSEndpoint locates STS.
type STSEndpoint struct {
	// Endpoint overrides the STS URL; "" means AWS's regional endpoint,
	// "dev" the local STS of `gatehouse dev`.
	Endpoint string `yaml:"endpoint,omitempty"`
	// Region is the AWS region; "" means the environment's AWS_REGION,
	// else us-east-1.
	Region string `yaml:"region,omitempty"`
	// CAFile adds CA certificates (PEM) to trust at Endpoint (a local STS
	// served with a development CA).
	CAFile string `yaml:"ca_file,omitempty"`
}

// CredsRole overrides how one logical role gets credentials.
type CredsRole struct {
	// Role is the logical role's name (authz.roles[].name); required.
	Role string `yaml:"role"`
	// Mode, Duration and SessionTags override the section's defaults.
	Mode        string        `yaml:"mode,omitempty"`
	Duration    time.Duration `yaml:"duration,omitempty"`
	SessionTags []string      `yaml:"session_tags,omitempty"`
	// GroupTags maps group object ids to short names tagged as "groups"
	// (only these groups are tagged).
	GroupTags map[string]string `yaml:"group_tags,omitempty"`
}

// Credential modes.
const (
	ModeBroker      = "broker"
	ModeWebIdentity = "web_identity"
	ModeAssumeRole  = "assume_role"
	// EndpointDev names the local STS of `gatehouse dev`.
	EndpointDev = "dev"
)

// DevSTS configures the local STS of `gatehouse dev`. Its roles are those
// of authz.roles, each trusting what `gatehouse aws trust-policy` prints for
// it and allowed to invoke the functions the logical role reaches; Roles
// here replace that for the roles they name.
type DevSTS struct {
	// Listen is host:port on loopback; "" means 127.0.0.1:9444.
	Listen string `yaml:"listen"`
	// Roles replace the derived trust policy or invoke list of a role.
	Roles []DevSTSRole `yaml:"roles,omitempty"`
}

// DevSTSRole is one IAM role of the local STS.
type DevSTSRole struct {
	// ARN is the role's ARN (an aws_role of authz.roles, or another).
	ARN string `yaml:"arn"`
	// TrustPolicy is the IAM trust policy JSON; "" keeps the derived one.
	// ${gatehouse_issuer} and ${idp_issuer} stand for the IAM provider
	// names of gatehouse's issuer and of the dev IdP's first tenant.
	TrustPolicy string `yaml:"trust_policy,omitempty"`
	// Invoke lists the functions the role may invoke; nil keeps the
	// derived list.
	Invoke []string `yaml:"invoke,omitempty"`
	// Policy is the role's identity (permission) policy JSON for the
	// local AWS services beside the local STS (Secrets Manager, KMS):
	// Allow and Deny statements of actions on resource ARNs, with * and ?
	// wildcards, without conditions. "" allows none of them.
	Policy string `yaml:"policy,omitempty"`
}

var credTagNames = map[string]bool{"tenant": true, "kind": true, "agent": true, "app": true, "groups": true}

var roleARN = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}$`)

func (v *validator) creds(f *File) {
	c := &f.Creds
	modes := map[string]bool{ModeBroker: true, ModeWebIdentity: true, ModeAssumeRole: true}
	if !modes[c.Mode] {
		v.add("creds.mode", "%s: want broker, web_identity or assume_role", short(c.Mode))
	}
	if c.Duration < 15*time.Minute || c.Duration > 12*time.Hour {
		v.add("creds.duration", "must be between 15m and 12h (STS limits)")
	}
	v.tags("creds.session_tags", c.SessionTags)
	if c.Issuer.URL != "" {
		if u, err := url.Parse(c.Issuer.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			v.add("creds.issuer.url", "%s: want an https URL without query or fragment (IAM OIDC providers require https)", short(c.Issuer.URL))
		}
	}
	if e := c.STS.Endpoint; e != "" && e != EndpointDev {
		if u, err := url.Parse(e); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
			v.add("creds.sts.endpoint", "%s: want an https URL, or \"dev\"", short(e))
		}
	}
	roles := map[string]bool{}
	for _, r := range f.AuthZ.Roles {
		roles[r.Name] = true
	}
	seen := map[string]string{}
	for i, r := range c.Roles {
		p := indexPath("creds.roles", i)
		if !roles[r.Role] {
			v.add(p+".role", "%s is not a role of authz.roles", short(r.Role))
		}
		v.unique(seen, r.Role, p+".role", "role")
		if r.Mode != "" && !modes[r.Mode] {
			v.add(p+".mode", "%s: want broker, web_identity or assume_role", short(r.Mode))
		}
		if r.Duration != 0 && (r.Duration < 15*time.Minute || r.Duration > 12*time.Hour) {
			v.add(p+".duration", "must be between 15m and 12h (STS limits)")
		}
		v.tags(p+".session_tags", r.SessionTags)
		for g := range r.GroupTags {
			if !isGUID(g) {
				v.add(p+".group_tags", "%s: keys are group object ids (GUIDs)", short(g))
			}
		}
	}
}

func (v *validator) tags(field string, tags []string) {
	for i, t := range tags {
		if !credTagNames[t] {
			v.add(fmt.Sprintf("%s[%d]", field, i), "%s: want tenant, kind, agent, app or groups", short(t))
		}
	}
}

func (v *validator) devSTS(d *DevSTS) {
	if msg := checkListen(d.Listen); msg != "" {
		v.add("dev.sts.listen", "%s", msg)
	}
	for i, r := range d.Roles {
		p := indexPath("dev.sts.roles", i)
		if !roleARN.MatchString(r.ARN) {
			v.add(p+".arn", "%s is not an IAM role ARN", short(r.ARN))
		}
	}
}
