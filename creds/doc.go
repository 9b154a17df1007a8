// Package creds is step 3 of the pipeline: it turns a verified principal and
// the logical role an authorization decision granted into short-lived AWS
// credentials for exactly that role, never a stored key.
//
// In: a Config holding the roles (logical name, IAM role ARN, mode, session
// duration, which facts become session tags), an STSClient (the AWS SDK's
// *sts.Client, built by the caller with its endpoint and, for assume_role,
// its ambient credentials) and, for broker mode, gatehouse's own issuer (a
// *mint.Issuer: it signs what creds decides the token says). Per request:
// the *authn.Principal, the role, the caller's raw token (web_identity
// only) and an optional inline session policy (see InvokePolicy).
//
// Out: a *Session holding aws.Credentials, the assumed-role ARN, the session
// name and source identity STS recorded, and the session tags; or an *Error
// whose Status is 403 (STS refused the role: never retried) or 503 (STS
// throttled or unreachable: retry after Error.RetryAfter).
//
// Three modes, per role:
//
//   - broker (the default): gatehouse is itself an OIDC issuer (package
//     mint). It mints a web-identity token for the (principal, role) pair
//     with aud "sts.amazonaws.com", sub "role:<role>:<pseudonym>", session
//     tags in https://aws.amazon.com/tags and the pseudonym as source
//     identity in https://aws.amazon.com/source_identity, lives at most 5
//     minutes, and is only ever sent to STS AssumeRoleWithWebIdentity.
//   - web_identity: AssumeRoleWithWebIdentity with the caller's own token.
//     STS and the role's trust policy judge it; no tags or source identity
//     can be added (they can only come from the token's issuer).
//   - assume_role: AssumeRole with the STSClient's ambient credentials,
//     passing SourceIdentity and session tags as request parameters.
//
// Identity without personal data: principals are named by a pseudonym,
// base64url(SHA-256(domain, tenant, object id))[:22] for principals with a
// tenant (Entra) and base64url(SHA-256(domain, issuer, subject))[:22]
// otherwise (see Pseudonym). The pseudonym is the token subject's principal
// part and the source identity. The session name is the Entra object id (a
// GUID) when the principal has a tenant and a GUID subject, else the
// pseudonym. Names, UPNs and email addresses never reach STS or CloudTrail.
//
// Cache: sessions are cached per (issuer, tenant, subject, role, session
// policy, session tags: agent, groups, ...), refreshed RefreshMargin before
// expiry; concurrent misses for one key share one STS call; the cache is
// bounded (least recently used evicted). While STS throttles or is
// unreachable, cached sessions keep serving until their real expiry, new
// keys get a 503 with Retry-After, and calls to STS back off (per mode) so
// an outage is not made worse.
//
// IAM side: TrustPolicy writes the trust policy each role needs for its
// mode (the broker one pins sub with StringLike "role:<role>:*");
// docs/aws-setup.md walks through a real account.
//
// Left to others: deciding the role (authz), validating the caller's token
// (authn), building the STS client and its endpoint (cli), signing the
// broker-mode token, rotating its keys and serving the issuer's discovery
// document and keys where AWS can fetch them (mint, mounted by the gateway
// or exported as static files), and creating the IAM OIDC provider and
// roles in the account.
package creds
