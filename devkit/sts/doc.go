// Package sts is a development double of AWS STS that the AWS SDKs call
// unchanged (endpoint override): it speaks the STS Query protocol, answers
// with STS's XML bodies and error codes, and enforces IAM role trust
// policies, so the local loop exercises the same protocol and rules as AWS.
//
// In: a Config naming the account, the trusted OpenID Connect providers
// (IAM OIDC identity providers: issuer URL and client ids) and the roles
// (name, trust policy as IAM JSON, maximum session duration, the Lambda
// functions the role may invoke, and its identity policy). New validates
// all of it once (every problem reported together) and parses every trust
// and identity policy; a policy it cannot evaluate exactly (unknown
// operator, key, element or principal) is refused there, never ignored at
// request time.
//
// Out: an http.Handler serving POST / with
//
//	Action=AssumeRoleWithWebIdentity  unsigned; the token is verified with
//	                                  gatehouse/authn against the provider its
//	                                  iss names (discovery, JWKS, RS256-512 or
//	                                  ES256-512, aud among the client ids, exp
//	                                  with 5 minutes of skew)
//	Action=AssumeRole                 SigV4-signed (service sts) with credentials
//	                                  issued here: role chaining
//	Action=GetCallerIdentity          SigV4-signed (service sts)
//
// and Authenticate, which checks the SigV4 signature of any request made
// with issued credentials (devkit/runtime uses it for the Lambda API).
//
// Trust policies are evaluated as IAM does (an explicit Deny wins; see
// trust.go for the grammar). A web identity's principal is
// {"Federated": "arn:aws:iam::<account>:oidc-provider/<URL without https://>"},
// its condition keys "<URL without https://>:aud", ":sub", ":azp", ":amr",
// plus aws:RequestTag/<key>, aws:TagKeys, sts:TransitiveTagKeys,
// sts:RoleSessionName and sts:SourceIdentity. Session tags come from the
// token's https://aws.amazon.com/tags claim and need sts:TagSession; a
// source identity comes from https://aws.amazon.com/source_identity and
// needs sts:SetSourceIdentity. A chained session keeps the source identity
// and the transitive tags.
//
// For AssumeRole the principal is {"AWS": …}: the caller's role ARN, its
// assumed-role session ARN, the account id or arn:aws:iam::<account>:root;
// the keys are aws:PrincipalArn (the caller's role ARN),
// aws:PrincipalAccount, aws:PrincipalType, aws:PrincipalTag/<key>,
// aws:SourceIdentity, sts:SourceIdentity, sts:RoleSessionName,
// sts:ExternalId and the tag keys above.
//
// Issued credentials (ASIA… access key ids, secrets and session tokens from
// Config.Rand) live in memory only, with their role, session name, tags,
// source identity and session policy. Session tokens grow with the packed
// session policy and tags up to STS's 4096 bytes (PackedPolicyTooLarge
// beyond), honour MinimumSessionTokenSize, and are reported in
// PackedPolicySize, SessionTokenSize and SessionTokenUtilization.
// GetCallerIdentity also returns the source identity and tags, as extra
// result elements (SourceIdentity, PrincipalTags, TransitiveTagKeys) that
// SDKs skip.
//
// Permission policies: a role may carry an identity policy (Role.Policy,
// IAM JSON of Allow/Deny statements with Action and Resource patterns; New
// refuses Condition, NotAction, NotResource and policy variables, which it
// could not evaluate exactly). Sessions carry it, and Session.Allowed
// decides one action on one resource as IAM does for a role session: an
// explicit Deny in the identity or session policy wins, the identity policy
// must allow, and a session policy narrows (see permission.go). The other
// local services (devkit/secretsmanager, devkit/kms) call it.
//
// Left to others: lambda:InvokeFunction (a role's Invoke list stands in for
// it; devkit/runtime applies it and the session policy), an AssumeRole
// caller's own permission to call sts:AssumeRole (not checked), condition
// keys in session policies (a statement with a Condition never allows and
// always denies), managed session policies (PolicyArns are validated and
// packed, not resolved), MFA, identity providers other than OpenID Connect, TLS
// (wrap Handler in an https server with timeouts), thumbprints (the
// HTTPClient's roots decide). It is a development tool: keep it on loopback.
package sts
