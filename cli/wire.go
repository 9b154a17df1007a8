package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"gatehouse/authn"
	"gatehouse/config"
	"gatehouse/devkit/idp"
)

// devContext is what the configuration's "dev" authority resolves to: the
// development IdP's URL and the CA it is served with. nil outside dev.
type devContext struct {
	baseURL string
	caPool  *x509.CertPool
}

// buildVerifier turns the authn section into a Verifier. An Entra issuer
// becomes one authn.IssuerConfig per accepted token version.
func buildVerifier(f *config.File, dev *devContext, log *slog.Logger) (*authn.Verifier, error) {
	var issuers []authn.IssuerConfig
	var errs []error
	for _, ic := range f.AuthN.Issuers {
		specs, err := ic.Runtime(dev.authority())
		if err != nil {
			errs = append(errs, fmt.Errorf("authn.issuers %s: %w", ic.Name, err))
			continue
		}
		issuers = append(issuers, specs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return authn.NewVerifier(authn.Config{
		Issuers:       issuers,
		MaxTokenBytes: f.AuthN.MaxTokenBytes,
		CacheEntries:  f.AuthN.CacheEntries,
		Logger:        log,
	})
}

// authority is what the "dev" authority resolves to, for config's issuer
// conversion; nil outside dev.
func (d *devContext) authority() *config.DevAuthority {
	if d == nil {
		return nil
	}
	return &config.DevAuthority{BaseURL: d.baseURL, CAPool: d.caPool}
}

func clientWithPool(pool *x509.CertPool) *http.Client { return config.HTTPClient(pool) }

// loadCAPool reads a PEM CA file, added to the system roots if withSystem.
func loadCAPool(path string, withSystem bool) (*x509.CertPool, error) {
	return config.LoadCAPool(path, withSystem)
}

// idpConfig turns dev.idp into the development IdP's configuration.
func idpConfig(d config.IDP, baseURL, keyDir string, log *slog.Logger) idp.Config {
	c := idp.Config{BaseURL: baseURL, KeyDir: keyDir, TokenLifetime: d.TokenLifetime, Logger: log}
	for _, t := range d.Tenants {
		it := idp.Tenant{ID: t.ID, Domain: t.Domain}
		for _, g := range t.Groups {
			it.Groups = append(it.Groups, idp.Group{ObjectID: g.ID, DisplayName: g.Name})
		}
		for _, u := range t.Users {
			it.Users = append(it.Users, idp.User{
				ObjectID: u.ID, UserPrincipalName: u.UPN, DisplayName: u.Name, Password: string(u.Password),
				Groups: u.Groups, AppRoles: u.AppRoles,
			})
		}
		for _, a := range t.Apps {
			ia := idp.App{
				Name: a.Name, ClientID: a.ClientID, ObjectID: a.ObjectID, AppIDURI: a.AppIDURI,
				Certificates: a.Certificates, PublicClient: a.PublicClient, RedirectURIs: a.RedirectURIs,
				Scopes: a.Scopes, AccessTokenVersion: a.AccessTokenVersion, GroupClaims: a.GroupClaims,
				GroupOverageLimit: a.GroupOverageLimit,
			}
			for _, s := range a.Secrets {
				ia.Secrets = append(ia.Secrets, string(s))
			}
			for _, r := range a.AppRoles {
				ia.AppRoles = append(ia.AppRoles, idp.AppRole{Value: r.Value, MemberTypes: r.MemberTypes})
			}
			for _, p := range a.Permissions {
				ia.Permissions = append(ia.Permissions, idp.Permission{Resource: p.Resource, Scopes: p.Scopes, Roles: p.Roles})
			}
			it.Apps = append(it.Apps, ia)
		}
		c.Tenants = append(c.Tenants, it)
	}
	return c
}
