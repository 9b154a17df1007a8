package sts

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Config configures the local STS. Everything in it is data from the
// gatehouse configuration; nothing here is ever read from a request.
type Config struct {
	// AccountID is the 12-digit account that owns the roles and providers;
	// "" means "000000000000".
	AccountID string
	// Region is the region of the SigV4 credential scope requests must be
	// signed for; "" means "us-east-1".
	Region string
	// Providers are the trusted OpenID Connect providers: the IAM OIDC
	// identity providers of the account.
	Providers []Provider
	// Roles are the IAM roles that may be assumed.
	Roles []Role
	// HTTPClient fetches the providers' discovery documents and JWKS (for a
	// development IdP, one that trusts the development CA); nil means a
	// client with a 10 s timeout and the system roots.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness for credentials and request ids; nil means
	// crypto/rand.
	Rand io.Reader
	// Logger receives one record per issued session and per refusal; nil
	// means slog.Default(). Tokens, secret keys and session tokens are
	// never logged.
	Logger *slog.Logger
}

// Provider is an IAM OpenID Connect identity provider.
type Provider struct {
	// URL is the issuer URL: https, no query or fragment, and exactly the
	// `iss` of its tokens (a trailing slash counts). IAM's name for the
	// provider is URL without "https://": it names the provider in its ARN
	// (arn:aws:iam::<account>:oidc-provider/<name>) and prefixes its
	// condition keys ("<name>:aud", "<name>:sub", "<name>:amr", "<name>:azp").
	// Unlike IAM, a port is allowed, for local issuers; it is part of the
	// name.
	URL string
	// ClientIDs are the accepted audiences (IAM's client id list, 1 to 100
	// values of up to 255 characters), e.g. "sts.amazonaws.com".
	ClientIDs []string
}

// Role is an IAM role.
type Role struct {
	// Name is the role name, optionally after a path: "reader" or
	// "svc/reader". The role ARN is arn:aws:iam::<account>:role/<Name>; the
	// assumed-role ARN uses the last segment only, which must be unique
	// (case-insensitively) among the roles, as in IAM.
	Name string
	// TrustPolicy is the role's trust policy (AssumeRolePolicyDocument) as
	// IAM JSON. New refuses a policy it cannot evaluate exactly: an unknown
	// element, operator or condition key, a principal that names an unknown
	// provider or role of this account, policy variables.
	TrustPolicy []byte
	// MaxSessionDuration bounds DurationSeconds; 0 means 1 h; 1 h to 12 h.
	MaxSessionDuration time.Duration
	// Invoke lists the Lambda function names or patterns ("reports-*", "*")
	// the role's permission policy allows lambda:InvokeFunction on: the
	// local stand-in for its IAM permission policy, used by devkit/runtime.
	Invoke []string
	// Policy is the role's identity (permission) policy as IAM JSON, nil for
	// none: what Session.Allowed grants, for the other local services
	// (devkit/secretsmanager, devkit/kms). New refuses what it cannot
	// evaluate exactly: Condition, NotAction, NotResource, Principal,
	// policy variables, unknown elements (see permission.go).
	Policy []byte
}
