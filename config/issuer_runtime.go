package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// DevAuthority is what the Entra authority AuthorityDev resolves to: the
// development IdP that `gatehouse dev` runs, known only once it listens.
type DevAuthority struct {
	// BaseURL is the IdP's scheme://host:port, without a trailing slash.
	BaseURL string
	// CAPool, when set, is the CA pool its HTTPS endpoints are trusted
	// with (the development CA); nil means the system roots.
	CAPool *x509.CertPool
}

// Runtime returns the issuer as the verifier's issuers: one
// authn.IssuerConfig for a type oidc issuer, and one per accepted token
// version for an Entra issuer (v1.0 and v2.0 tokens carry different `iss`
// values), with the issuer URLs, discovery URLs and tenant allow-lists that
// Entra's authority and tenant imply. dev resolves the authority
// AuthorityDev; nil refuses it.
//
// Unlike Validate, it does I/O: it reads CAFile, if set, into the HTTP
// client the issuer's keys are fetched with.
func (ic Issuer) Runtime(dev *DevAuthority) ([]authn.IssuerConfig, error) {
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
		pool, err := LoadCAPool(ic.CAFile, true)
		if err != nil {
			return nil, err
		}
		base.HTTPClient = HTTPClient(pool)
	}
	if ic.Type != IssuerEntra {
		return []authn.IssuerConfig{base}, nil
	}
	e := ic.Entra
	if e == nil {
		return nil, errors.New("an entra issuer needs its entra section")
	}
	authority := strings.TrimSuffix(e.Authority, "/")
	if authority == AuthorityDev {
		if dev == nil {
			return nil, errors.New(`authority "dev" names the development IdP, which only 'gatehouse dev' runs`)
		}
		authority = dev.BaseURL
		if dev.CAPool != nil && base.HTTPClient == nil {
			base.HTTPClient = HTTPClient(dev.CAPool)
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
				if authority == AuthorityMicrosoft {
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

// HTTPClient returns a client that trusts pool (TLS 1.2 at least) with a
// 10 s timeout, for fetching an issuer's documents.
func HTTPClient(pool *x509.CertPool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

// LoadCAPool reads a PEM file of CA certificates (a ca_file), added to the
// system roots if withSystem.
func LoadCAPool(path string, withSystem bool) (*x509.CertPool, error) {
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
