package idp

import (
	"net/http"
	"net/url"
	"strings"
)

// metadataHeaders are the headers Entra sends with discovery documents and
// keys (spec §7).
func metadataHeaders(h http.Header) {
	h.Set("Cache-Control", "max-age=86400, private")
	h.Set("Access-Control-Allow-Origin", "*")
}

// discoveryDoc is the OpenID configuration in Entra's shape (spec §7).
// Endpoints this IdP does not serve (device code, logout, userinfo,
// kerberos) are left out rather than advertised.
type discoveryDoc struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	TenantRegionScope                 string   `json:"tenant_region_scope"`
	CloudInstanceName                 string   `json:"cloud_instance_name"`
	MicrosoftMultiRefreshToken        bool     `json:"microsoft_multi_refresh_token,omitempty"`
}

const grantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// discovery serves the v2.0 or v1.0 document of a tenant named by GUID or
// domain; the issuer always carries the GUID. The v1.0 document points at
// the v2.0 authorize and token endpoints, the only ones served (the v1.0
// token endpoint's `resource=` dialect is not implemented).
func (s *Server) discovery(v1 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := s.dir.lookup(r.PathValue("tenant"))
		if t == nil {
			s.writeError(w, r, errUnknownTenant(r.PathValue("tenant")))
			return
		}
		doc := discoveryDoc{
			Issuer:                            s.issuerV2(t),
			AuthorizationEndpoint:             s.authorizeURL(t),
			TokenEndpoint:                     s.tokenURL(t),
			JWKSURI:                           s.base + "/" + t.ID + "/discovery/v2.0/keys",
			TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			TokenEndpointAuthSigningAlgs:      []string{"PS256", "RS256"},
			ResponseModesSupported:            []string{"query", "fragment", "form_post"},
			ResponseTypesSupported:            []string{"code"},
			GrantTypesSupported:               []string{"authorization_code", "refresh_token", "client_credentials", "password", grantTypeJWTBearer},
			CodeChallengeMethodsSupported:     []string{"S256"},
			ScopesSupported:                   []string{"openid", "profile", "email", "offline_access"},
			SubjectTypesSupported:             []string{"pairwise"},
			IDTokenSigningAlgValuesSupported:  []string{"RS256"},
			ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "preferred_username",
				"name", "tid", "oid", "ver"},
			TenantRegionScope: "WW",
			CloudInstanceName: "microsoftonline.com",
		}
		if v1 {
			doc.Issuer = s.issuerV1(t)
			doc.JWKSURI = s.base + "/" + t.ID + "/discovery/keys"
			doc.ScopesSupported = []string{"openid"}
			doc.MicrosoftMultiRefreshToken = true
		}
		metadataHeaders(w.Header())
		writeJSON(w, http.StatusOK, doc)
	}
}

// instanceDiscovery answers MSAL's instance discovery (spec §7, §11) for
// authorities on this host; any other host is an invalid instance.
func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	base, _ := url.Parse(s.base) // validated by New
	tenantPath := "{tenant}"
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		u, err := url.Parse(ae)
		if err != nil || !strings.EqualFold(u.Host, base.Host) || !strings.EqualFold(u.Scheme, base.Scheme) {
			s.writeError(w, r, newError("invalid_instance", 50049, "Unknown or invalid instance."))
			return
		}
		if seg := strings.Split(strings.TrimPrefix(u.Path, "/"), "/"); seg[0] != "" {
			tenantPath = seg[0]
		}
	}
	host := base.Host
	metadataHeaders(w.Header())
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.base + "/" + url.PathEscape(tenantPath) + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// userRealm answers MSAL's realm lookup before a password grant (spec §11):
// every user of this IdP is a managed (cloud) account. Unknown names get
// "Unknown", as Entra answers for unknown domains.
func (s *Server) userRealm(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("username")
	domain := ""
	if at := strings.LastIndexByte(name, '@'); at >= 0 {
		domain = name[at+1:]
	}
	accountType := "Unknown"
	for _, t := range s.dir.tenants {
		if t.byUPN[strings.ToLower(name)] != nil || (t.Domain != "" && strings.EqualFold(t.Domain, domain)) {
			accountType = "Managed"
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ver":                 "1.0",
		"account_type":        accountType,
		"domain_name":         domain,
		"cloud_instance_name": "microsoftonline.com",
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}
