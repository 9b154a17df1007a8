package creds

import (
	"encoding/json"
	"errors"
	"fmt"
)

// InvokePolicy returns an inline session policy that allows only
// lambda:InvokeFunction on functionARN. Passed as Request.SessionPolicy, it
// narrows the role to the one function a request targets: the session's
// permissions are the role's policies intersected with it. The ARN is used
// exactly: pass the qualified ARN (…:function:name:alias) when invoking an
// alias or version, since an unqualified ARN does not match a qualified one.
func InvokePolicy(functionARN string) string {
	type statement struct {
		Effect   string `json:"Effect"`
		Action   string `json:"Action"`
		Resource string `json:"Resource"`
	}
	b, _ := json.Marshal(struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{"2012-10-17", []statement{{"Allow", "lambda:InvokeFunction", functionARN}}})
	return string(b)
}

// maxSessionPolicy is STS's limit on the inline session policy (spec §2).
const maxSessionPolicy = 2048

// ErrSessionPolicy is returned (wrapped) for a session policy STS would
// refuse on its form: longer than 2048 bytes, characters outside
// \t \n \r U+0020–U+00FF (or invalid UTF-8), or not a JSON object. It is the caller's bug, not the principal's.
var ErrSessionPolicy = errors.New("creds: invalid session policy")

// checkSessionPolicy checks what STS checks on the form of Policy, before
// it becomes part of a cache key or a request.
func checkSessionPolicy(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > maxSessionPolicy {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrSessionPolicy, len(p), maxSessionPolicy)
	}
	for i, r := range p {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r > 0xFF {
			return fmt.Errorf("%w: character %U at byte %d is outside STS's set", ErrSessionPolicy, r, i)
		}
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(p), &v); err != nil {
		return fmt.Errorf("%w: %v", ErrSessionPolicy, err)
	}
	return nil
}
