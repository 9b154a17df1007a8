package config

import (
	"slices"
	"time"
)

// Defaults of fields whose zero value means a default.
const (
	DefaultMaxTokenBytes      = 16384
	DefaultCacheEntries       = 10000
	DefaultLeeway             = 60 * time.Second
	DefaultMaxLifetime        = 24 * time.Hour
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefreshInterval = 5 * time.Minute
	DefaultMaxKeyAge          = 24 * time.Hour
	DefaultListen             = "127.0.0.1:9443"
	DefaultTokenLifetime      = time.Hour
	DefaultAccessTokenVersion = 2
	DefaultGroupOverageLimit  = 200 // Entra's limit for JWTs
	DefaultSTSListen          = "127.0.0.1:9444"
	DefaultGatewayListen      = "127.0.0.1:9480"
	DefaultLambdaListen       = "127.0.0.1:9445"
	DefaultUpstreamListen     = "127.0.0.1:9446"
	DefaultSessionDuration    = time.Hour
	DefaultFunctionTimeout    = 3 * time.Second // Lambda's own default
)

// ApplyDefaults replaces each zero value that stands for a default with that
// default, so that f reads as what gatehouse will do. It is the only place
// defaults are set; Parse calls it before Validate. It is idempotent and
// leaves values it cannot default (such as a missing name) to Validate.
func (f *File) ApplyDefaults() {
	setDefault(&f.Secrets.RefreshInterval, DefaultSecretRefresh)
	setDefault(&f.Secrets.MaxAge, DefaultSecretMaxAge)
	f.Telemetry.applyDefaults()
	a := &f.AuthN
	setDefault(&a.MaxTokenBytes, DefaultMaxTokenBytes)
	setDefault(&a.CacheEntries, DefaultCacheEntries)
	for i := range a.Issuers {
		is := &a.Issuers[i]
		if len(is.Algorithms) == 0 {
			is.Algorithms = []string{"RS256"}
		}
		setDefault(&is.Leeway, DefaultLeeway)
		setDefault(&is.MaxLifetime, DefaultMaxLifetime)
		setDefault(&is.RefreshInterval, DefaultRefreshInterval)
		setDefault(&is.MinRefreshInterval, DefaultMinRefreshInterval)
		setDefault(&is.MaxKeyAge, DefaultMaxKeyAge)
		if e := is.Entra; e != nil {
			if len(e.Versions) == 0 {
				e.Versions = []string{"2.0"}
			}
			if e.V1Issuer == "" && slices.Contains(e.Versions, "1.0") {
				switch e.Authority {
				case AuthorityMicrosoft:
					e.V1Issuer = "https://sts.windows.net/{tenantid}/"
				case AuthorityDev, "":
					// Known once the development IdP listens: the CLI sets it.
				default:
					e.V1Issuer = e.Authority + "/{tenantid}/"
				}
			}
		}
	}

	au := &f.Audit
	setDefault(&au.Sink, "sqlite")
	setDefault(&au.Mode, "sync")
	setDefault(&au.OnUnavailable, "fail_closed")

	c := &f.Creds
	setDefault(&c.Mode, ModeBroker)
	setDefault(&c.Duration, DefaultSessionDuration)
	setDefault(&c.CacheEntries, DefaultCacheEntries)
	if len(c.SessionTags) == 0 {
		c.SessionTags = []string{"tenant", "kind", "agent"}
	}
	setDefault(&f.Dev.STS.Listen, DefaultSTSListen)
	setDefault(&f.Dev.Gateway, DefaultGatewayListen)
	setDefault(&f.Dev.Lambda.Listen, DefaultLambdaListen)
	setDefault(&f.Dev.Upstream, DefaultUpstreamListen)
	setDefault(&f.Dev.KeyVault.Listen, DefaultKeyVaultListen)
	for i := range f.Dev.Lambda.Functions {
		setDefault(&f.Dev.Lambda.Functions[i].Timeout, DefaultFunctionTimeout)
	}

	idp := &f.Dev.IDP
	setDefault(&idp.Listen, DefaultListen)
	if idp.TLS == nil {
		idp.TLS = new(true)
	}
	setDefault(&idp.TokenLifetime, DefaultTokenLifetime)
	for i := range idp.Tenants {
		t := &idp.Tenants[i]
		for j := range t.Apps {
			app := &t.Apps[j]
			setDefault(&app.AccessTokenVersion, DefaultAccessTokenVersion)
			setDefault(&app.GroupOverageLimit, DefaultGroupOverageLimit)
		}
	}
}

// setDefault sets *p to def if *p is the zero value.
func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}
