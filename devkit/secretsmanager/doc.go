// Package secretsmanager is a development double of AWS Secrets Manager that
// the AWS SDKs call unchanged (endpoint override): it speaks the AWS JSON 1.1
// protocol (POST / with X-Amz-Target: secretsmanager.<Operation>), answers
// with Secrets Manager's bodies and error codes, checks every request's
// SigV4 signature with the local STS (devkit/sts) and authorizes it with
// the session's IAM policies, so the local loop exercises the same
// protocol and rules as AWS.
//
// In: a Config naming the account and region of the secrets' ARNs (those
// of the local STS), the STS, an optional state file, a clock and a logger.
// Secrets come from callers (CreateSecret, PutSecretValue) or from the Go
// methods PutSecret and PutSecretBinary, which seed without the wire.
//
// Out: an http.Handler serving
//
//	CreateSecret              name, description, tags, an optional first
//	                          value (SecretString or SecretBinary) as AWSCURRENT
//	GetSecretValue            by name, ARN or partial ARN (no random suffix);
//	                          by VersionId and/or VersionStage (AWSCURRENT by
//	                          default)
//	PutSecretValue            a new version, AWSCURRENT unless VersionStages
//	                          say otherwise; the version that was AWSCURRENT
//	                          becomes AWSPREVIOUS; ClientRequestToken is the
//	                          version id and makes retries idempotent
//	UpdateSecretVersionStage  moves or removes a staging label (AWSCURRENT
//	                          moves AWSPREVIOUS along, as AWS does)
//	DescribeSecret            metadata and VersionIdsToStages
//	ListSecretVersionIds      versions with their stages (IncludeDeprecated)
//	ListSecrets               filters name, description, tag-key, tag-value,
//	                          all (prefix match, "!" negates); sorted by
//	                          created date or name; MaxResults and NextToken
//	DeleteSecret              a recovery window of 7-30 days (30 by default)
//	                          or ForceDeleteWithoutRecovery; a secret scheduled
//	                          for deletion answers InvalidRequestException to
//	                          every operation but DescribeSecret,
//	                          ListSecretVersionIds, RestoreSecret and a forced
//	                          DeleteSecret, and is gone once its date passes
//	RestoreSecret             cancels a scheduled deletion
//
// Every request needs a signature (service "secretsmanager") by a session
// the local STS issued and an identity policy allowing the action on the
// secret's ARN (ListSecrets: on "*"; CreateSecret with tags also needs
// secretsmanager:TagResource). A caller is authorized before it learns
// whether a secret exists: for a secret that does not exist the resource is
// the ARN or partial ARN it named. Refusals are Secrets Manager's: HTTP 400
// with {"__type": "<Code>", "message": …}: ResourceNotFoundException,
// InvalidParameterException, InvalidRequestException,
// ResourceExistsException, InvalidNextTokenException, ValidationException,
// AccessDeniedException, UnrecognizedClientException,
// InvalidSignatureException, IncompleteSignatureException,
// MissingAuthenticationTokenException, ExpiredTokenException,
// SerializationException, UnknownOperationException; InternalServiceError
// (500).
//
// Secrets live in memory, and in Config.StateFile when it is set: the whole
// state as JSON, rewritten atomically with mode 0600 after every change
// (a failed write undoes the change and answers InternalServiceError), so
// a restart keeps secrets and versions. LastAccessedDate is kept in memory
// and written with the next change. Values are never logged: each request
// logs its operation, principal, status and error code.
//
// Left to others: RotateSecret and rotation Lambdas (rotation here is
// PutSecretValue and UpdateSecretVersionStage moving AWSCURRENT and
// AWSPREVIOUS, which is what a rotation function does), UpdateSecret,
// tagging and resource-policy operations, replication, KMS encryption of
// values (a KmsKeyId is recorded and reported, not used), condition keys,
// TLS (wrap Handler in an https server). It is a development tool: keep it
// on loopback.
package secretsmanager
