package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

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
		specs, err := issuerSpecs(ic, dev)
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

func issuerSpecs(ic config.Issuer, dev *devContext) ([]authn.IssuerConfig, error) {
	base := authn.IssuerConfig{
		Name:               ic.Name,
		Type:               ic.Type,
		Issuer:             ic.Issuer,
		DiscoveryURL:       ic.DiscoveryURL,
		JWKSURL:            ic.JWKSURL,
		Audiences:          ic.Audiences,
		Algorithms:         ic.Algorithms,
		Types:              ic.Types,
		AllowedApps:        ic.AllowedApps,
		Leeway:             ic.Leeway,
		MaxLifetime:        ic.MaxLifetime,
		RefreshInterval:    ic.RefreshInterval,
		MinRefreshInterval: ic.MinRefreshInterval,
		MaxKeyAge:          ic.MaxKeyAge,
		Claims: authn.ClaimNames{
			Subject: ic.Claims.Subject, Tenant: ic.Claims.Tenant, App: ic.Claims.App,
			Groups: ic.Claims.Groups, Roles: ic.Claims.Roles, Scopes: ic.Claims.Scopes,
		},
	}
	if ic.CAFile != "" {
		c, err := clientWithCAFile(ic.CAFile)
		if err != nil {
			return nil, err
		}
		base.HTTPClient = c
	}
	if ic.Type != config.IssuerEntra {
		return []authn.IssuerConfig{base}, nil
	}
	e := ic.Entra
	authority := strings.TrimSuffix(e.Authority, "/")
	if authority == config.AuthorityDev {
		if dev == nil {
			return nil, errors.New(`authority "dev" names the development IdP, which only 'gatehouse dev' runs`)
		}
		authority = dev.baseURL
		if dev.caPool != nil && base.HTTPClient == nil {
			base.HTTPClient = clientWithPool(dev.caPool)
		}
	}
	tenantSeg := e.Tenant // also the discovery path of a multi-tenant issuer
	issTenant := e.Tenant
	if e.MultiTenant() {
		issTenant = "{tenantid}"
		base.Tenants = e.Tenants
	}
	versions := e.Versions
	if len(versions) == 0 {
		versions = []string{"2.0"}
	}
	var out []authn.IssuerConfig
	for _, ver := range versions {
		s := base
		s.TokenVersion = ver
		switch ver {
		case "2.0":
			s.Issuer = authority + "/" + issTenant + "/v2.0"
			if s.DiscoveryURL == "" && s.JWKSURL == "" {
				s.DiscoveryURL = authority + "/" + tenantSeg + "/v2.0/.well-known/openid-configuration"
			}
		case "1.0":
			tmpl := e.V1Issuer
			if tmpl == "" {
				if authority == config.AuthorityMicrosoft {
					tmpl = "https://sts.windows.net/{tenantid}/"
				} else {
					tmpl = authority + "/{tenantid}/"
				}
			}
			s.Issuer = strings.ReplaceAll(tmpl, "{tenantid}", issTenant)
			if s.DiscoveryURL == "" && s.JWKSURL == "" {
				s.DiscoveryURL = authority + "/" + tenantSeg + "/.well-known/openid-configuration"
			}
		default:
			return nil, fmt.Errorf("unknown token version %q", ver)
		}
		out = append(out, s)
	}
	return out, nil
}

func clientWithPool(pool *x509.CertPool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

func clientWithCAFile(path string) (*http.Client, error) {
	pool, err := loadCAPool(path, true)
	if err != nil {
		return nil, err
	}
	return clientWithPool(pool), nil
}

// loadCAPool reads a PEM CA file, added to the system roots if withSystem.
func loadCAPool(path string, withSystem bool) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if withSystem {
		if sys, err := x509.SystemCertPool(); err == nil {
			pool = sys
		}
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates", path)
	}
	return pool, nil
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
