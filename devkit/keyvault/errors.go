package keyvault

import (
	"fmt"
	"net/http"
	"strings"
)

// kvError is a refusal in Key Vault's shape:
// {"error":{"code":...,"message":...,"innererror":{"code":...}}}. The
// message is shown to the caller, so it never holds a secret value, key
// material or a token.
type kvError struct {
	status  int
	code    string
	message string
	inner   string // innererror.code; "" for none
}

func (e *kvError) Error() string { return fmt.Sprintf("keyvault: %s: %s", e.code, e.message) }

// Key Vault's error codes (the `code` member).
const (
	codeUnauthorized   = "Unauthorized"
	codeForbidden      = "Forbidden"
	codeBadParameter   = "BadParameter"
	codeConflict       = "Conflict"
	codeSecretNotFound = "SecretNotFound"
	codeKeyNotFound    = "KeyNotFound"
	codeNotImplemented = "NotImplemented"
	codeMethodNotAllow = "MethodNotAllowed"
	codeTooLarge       = "RequestEntityTooLarge"
	codeUnavailable    = "ServiceUnavailable"
	codeInternal       = "InternalServerError"
)

func newError(status int, code, format string, args ...any) *kvError {
	return &kvError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func (e *kvError) withInner(code string) *kvError { e.inner = code; return e }

func badParameter(format string, args ...any) *kvError {
	return newError(http.StatusBadRequest, codeBadParameter, format, args...)
}

func errInternal() *kvError {
	return newError(http.StatusInternalServerError, codeInternal, "The vault could not complete the request; see its log.")
}

func errNotImplemented(what string) *kvError {
	return newError(http.StatusNotImplemented, codeNotImplemented,
		"%s is not implemented by the gatehouse development vault (it serves secrets and RSA/EC signing keys only).", what)
}

// kind is a vault object type: its URL collection and how errors name it.
type kind struct {
	collection string // "secrets" or "keys"
	deleted    string // "deletedsecrets" or "deletedkeys"
	noun       string // "secret" or "key"
	title      string // "Secret" or "Key"
	notFound   string // SecretNotFound or KeyNotFound
}

var (
	secretKind = kind{"secrets", "deletedsecrets", "secret", "Secret", codeSecretNotFound}
	keyKind    = kind{"keys", "deletedkeys", "key", "Key", codeKeyNotFound}
)

// errNotFound is Key Vault's answer for a missing object or version.
func (k kind) errNotFound(name, version string) *kvError {
	id := name
	if version != "" {
		id += "/" + version
	}
	return newError(http.StatusNotFound, k.notFound,
		"A %s with (name/id) %s was not found in this key vault. If you recently deleted this %s you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
		k.noun, clip(id), k.noun)
}

// errDeletedNotFound answers for a deleted object that is not there.
func (k kind) errDeletedNotFound(name string) *kvError {
	return newError(http.StatusNotFound, k.notFound, "Deleted %s not found: %s", k.title, clip(name))
}

// errDeletedConflict answers a set or create on a name whose object is
// deleted but recoverable.
func (k kind) errDeletedConflict(name string) *kvError {
	return newError(http.StatusConflict, codeConflict,
		"%s %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the %s can only be recovered or purged.",
		k.title, clip(name), k.noun).withInner("ObjectIsDeletedButRecoverable")
}

// errDisabled refuses an operation on a disabled version.
func (k kind) errDisabled(op string) *kvError {
	return newError(http.StatusForbidden, codeForbidden, "Operation %s is not allowed on a disabled %s.", op, k.noun).
		withInner(k.title + "Disabled")
}

// errInvalidName answers a name that is not 1-127 of [0-9A-Za-z-].
func errInvalidName(name string) *kvError {
	return badParameter("The request URI contains an invalid name: %s", clip(name))
}

// clip cuts a caller-supplied value for a message, so an error never echoes
// a whole request.
func clip(s string) string {
	const limit = 128
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
