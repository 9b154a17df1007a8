// Package kms is a development double of AWS KMS for asymmetric signing
// keys that the AWS SDKs call unchanged (endpoint override): it speaks the
// AWS JSON 1.1 protocol (POST / with X-Amz-Target: TrentService.<Operation>),
// answers with KMS's bodies and error codes, checks every request's SigV4
// signature with the local STS (devkit/sts) and authorizes it with the
// session's IAM policies, so the local loop signs tokens the same way it
// would with KMS.
//
// In: a Config naming the account and region of the keys' ARNs (those of
// the local STS), the STS, an optional state file, a clock and a logger.
// Keys come from callers (CreateKey) or from the Go methods CreateKey and
// RotateKey, which seed without the wire.
//
// Out: an http.Handler serving
//
//	CreateKey            KeySpec RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256,
//	                     ECC_NIST_P384 or ECC_NIST_P521 with KeyUsage
//	                     SIGN_VERIFY; material from crypto/rand, made by the
//	                     standard library
//	DescribeKey          KeyMetadata
//	GetPublicKey         DER SubjectPublicKeyInfo and the SigningAlgorithms
//	Sign, Verify         RSASSA_PKCS1_V1_5_SHA_256/384/512,
//	                     RSASSA_PSS_SHA_256/384/512 (salt as long as the
//	                     digest), ECDSA_SHA_256/384/512 (DER signatures, one
//	                     curve each); MessageType RAW (up to 4096 bytes,
//	                     hashed here) or DIGEST (the digest's exact length);
//	                     DryRun; a signature that does not verify is
//	                     KMSInvalidSignatureException, as in KMS
//	CreateAlias, UpdateAlias, DeleteAlias, ListAliases
//	ScheduleKeyDeletion  7-30 days (30 by default); the key is gone, with
//	                     its aliases, once the date passes
//	CancelKeyDeletion    the key comes back Disabled, as in KMS
//	DisableKey, EnableKey
//
// A KeyId may be a key id, a key ARN, an alias name (alias/x) or an alias
// ARN. Every request needs a signature (service "kms") by a session the
// local STS issued and an identity policy allowing the action (kms:Sign,
// …) on the key's ARN; CreateKey and ListAliases on "*"; the alias
// operations on the alias ARN and on each key involved, as KMS asks. A
// caller is authorized before it learns whether a key exists. Key states
// are KMS's: a Disabled key refuses Sign, Verify and GetPublicKey with
// DisabledException, a key pending deletion with KMSInvalidStateException.
// Refusals are HTTP 400 with {"__type": "<Code>", "message": …}:
// NotFoundException, DisabledException, KMSInvalidStateException,
// KMSInvalidSignatureException, InvalidKeyUsageException,
// AlreadyExistsException, InvalidAliasNameException,
// InvalidMarkerException, InvalidGrantTokenException,
// UnsupportedOperationException, DryRunOperationException, TagException,
// ValidationException, AccessDeniedException, UnrecognizedClientException,
// InvalidSignatureException, IncompleteSignatureException,
// MissingAuthenticationTokenException, ExpiredTokenException,
// SerializationException, UnknownOperationException;
// KMSInternalException (500).
//
// Rotation: KMS does not rotate asymmetric keys; a new key and UpdateAlias
// do (RotateKey does both). The old key stays enabled to verify what it
// signed until it is disabled or scheduled for deletion.
//
// Keys live in memory, and in Config.StateFile when it is set: the whole
// state as JSON, private keys as PKCS #8, rewritten atomically with mode
// 0600 after every change (a failed write undoes the change), so a restart
// keeps keys and aliases. Key material, messages and signatures are never
// logged: each request logs its operation, principal, status and error
// code.
//
// Left to others: symmetric keys and Encrypt, Decrypt, GenerateDataKey
// (CreateKey of SYMMETRIC_DEFAULT or of another usage answers
// UnsupportedOperationException), HMAC, key agreement and ML-DSA keys, key
// policies (refused at CreateKey: IAM policies decide), grants (grant
// tokens refused), tags beyond CreateKey, imported material, custom key
// stores, multi-Region keys, condition keys, TLS (wrap Handler in an https
// server). It is a development tool: keep it on loopback.
package kms
