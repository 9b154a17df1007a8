package keyvault

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// caller is the verified principal of a request.
type caller struct {
	oid    string // `oid`, else `sub`
	app    string // the calling client: appid or azp
	iss    string
	groups []string
}

// authenticate verifies the bearer token. Every failure is 401 with the
// challenge (refuse adds it), as Key Vault answers: the SDK's challenge
// policy asks for a new token and tries once more.
func (s *Server) authenticate(r *http.Request) (*caller, *kvError) {
	tok, err := authn.BearerToken(r)
	if err != nil {
		if errors.Is(err, authn.ErrNoToken) || !strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ") {
			return nil, newError(http.StatusUnauthorized, codeUnauthorized, "AKV10000: Request is missing a Bearer or PoP token.")
		}
		return nil, newError(http.StatusUnauthorized, codeUnauthorized, "Invalid token: %s.", authn.AsError(err).Reason)
	}
	p, err := s.verifier.Verify(r.Context(), string(tok))
	if err != nil {
		ae := authn.AsError(err)
		s.log.Info("keyvault: token refused", "check", ae.Check, "err", ae.Err)
		if ae.Kind == authn.Unavailable {
			return nil, newError(http.StatusServiceUnavailable, codeUnavailable,
				"The identity provider's signing keys cannot be fetched, so the token cannot be checked; try again later.")
		}
		switch ae.Check {
		case authn.CheckAudience:
			return nil, newError(http.StatusUnauthorized, codeUnauthorized, "AKV10022: Invalid audience. Expected %s or %s.", Resource, AppID)
		case authn.CheckIssuer, authn.CheckTenant, authn.CheckVersion:
			return nil, newError(http.StatusUnauthorized, codeUnauthorized, "AKV10032: Invalid issuer. The token is not from this vault's tenant on its identity provider (%s: %s).", ae.Check, ae.Reason)
		case authn.CheckKid:
			return nil, newError(http.StatusUnauthorized, codeUnauthorized, "AKV10046: Unable to resolve the key used for signature validation.")
		}
		return nil, newError(http.StatusUnauthorized, codeUnauthorized, "Invalid token: %s: %s.", ae.Check, ae.Reason)
	}
	return &caller{oid: p.Subject, app: p.App, iss: p.Issuer, groups: p.Groups}, nil
}

// grant is one principal's permissions, lower-case, "all" expanded.
type grant struct {
	secrets map[string]bool
	keys    map[string]bool
}

// Permission names Azure accepts in access policies.
var (
	secretPermissions = []string{"get", "list", "set", "delete", "recover", "backup", "restore", "purge"}
	keyPermissions    = []string{"get", "list", "update", "create", "import", "delete", "recover", "backup", "restore", "purge",
		"decrypt", "encrypt", "unwrapkey", "wrapkey", "verify", "sign", "release", "rotate", "getrotationpolicy", "setrotationpolicy"}
)

func newAccess(entries []Access) (map[string]*grant, error) {
	var errs []error
	out := map[string]*grant{}
	for i, a := range entries {
		path := fmt.Sprintf("Access[%d]", i)
		if !authn.IsGUID(a.ObjectID) {
			errs = append(errs, fmt.Errorf("%s.ObjectID: %q is not a GUID", path, a.ObjectID))
			continue
		}
		key := strings.ToLower(a.ObjectID)
		if out[key] != nil {
			errs = append(errs, fmt.Errorf("%s.ObjectID: %s already has an access policy; list its permissions once", path, a.ObjectID))
			continue
		}
		g := &grant{secrets: map[string]bool{}, keys: map[string]bool{}}
		for _, p := range a.Secrets {
			if err := addPermission(g.secrets, p, secretPermissions); err != nil {
				errs = append(errs, fmt.Errorf("%s.Secrets: %w", path, err))
			}
		}
		for _, p := range a.Keys {
			if err := addPermission(g.keys, p, keyPermissions); err != nil {
				errs = append(errs, fmt.Errorf("%s.Keys: %w", path, err))
			}
		}
		out[key] = g
	}
	return out, errors.Join(errs...)
}

func addPermission(set map[string]bool, p string, valid []string) error {
	lp := strings.ToLower(p)
	switch {
	case lp == "all":
		for _, v := range valid {
			set[v] = true
		}
	case slices.Contains(valid, lp):
		set[lp] = true
	default:
		return fmt.Errorf("%q is not a permission (one of %s, or all)", p, strings.Join(valid, ", "))
	}
	return nil
}

// allowed checks the caller's permission: an access policy for its object
// id, or for one of the groups its token names.
func (s *Server) allowed(c *caller, k kind, perm string) *kvError {
	ids := append([]string{c.oid}, c.groups...)
	for _, id := range ids {
		if g := s.access[strings.ToLower(id)]; g != nil {
			set := g.secrets
			if k == keyKind {
				set = g.keys
			}
			if set[perm] {
				return nil
			}
		}
	}
	return newError(http.StatusForbidden, codeForbidden,
		"The user, group or application 'appid=%s;oid=%s;iss=%s' does not have %s %s permission on key vault '%s;location=local'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
		c.app, c.oid, c.iss, k.collection, perm, s.vaultName).withInner("AccessDenied")
}
