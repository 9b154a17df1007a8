package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/devkit/devca"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	devsts "github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/mint"
)

// devStack runs the servers of `gatehouse dev` and shuts them down together.
type devStack struct {
	ctx       context.Context
	ca        *devca.CA
	servers   []*http.Server
	listeners []net.Listener // closed by shutdown, served or not
	serveErr  chan error
}

// devListenFlags are the flags of `gatehouse dev` that set where each
// service listens, by the name listen is given.
var devListenFlags = map[string]string{
	"development IdP":      "--idp-listen",
	"local STS":            "--sts-listen",
	"development gateway":  "--gateway-listen",
	"local Lambda host":    "--lambda-listen",
	"development upstream": "--upstream-listen",
	"local Key Vault":      "--keyvault-listen",
	"admin listener":       "--admin-listen",
}

// listen opens a loopback listener for the named service, wrapped in TLS
// with a certificate of the local CA when withTLS, and returns its URL.
func (st *devStack) listen(name, addr string, withTLS bool) (net.Listener, string, error) {
	ln, cfg, url, err := st.listenTCP(name, addr, withTLS)
	if err != nil || cfg == nil {
		return ln, url, err
	}
	return tls.NewListener(ln, cfg), url, nil
}

// listenTCP opens a loopback TCP listener for the named service and
// returns it with the TLS configuration to serve it with (nil without
// TLS) and its URL.
func (st *devStack) listenTCP(name, addr string, withTLS bool) (net.Listener, *tls.Config, string, error) {
	if host, _, err := net.SplitHostPort(addr); err != nil || !isLoopbackHost(host) {
		return nil, nil, "", fmt.Errorf("%s: listen address %q: want host:port on a loopback address", name, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		hint := "change the address in the configuration"
		if fl := devListenFlags[name]; fl != "" {
			hint = fmt.Sprintf("pass %s with another address (port 0 picks a free one)", fl)
		}
		return nil, nil, "", fmt.Errorf("%s: %w (is another 'gatehouse dev' running? stop it, or %s)", name, err, hint)
	}
	st.listeners = append(st.listeners, ln)
	if !withTLS {
		return ln, nil, "http://" + ln.Addr().String(), nil
	}
	host, _, _ := net.SplitHostPort(addr)
	cfg, err := st.ca.ServerTLSConfig(uniq("127.0.0.1", "localhost", "::1", host)...)
	if err != nil {
		return nil, nil, "", err
	}
	return ln, cfg, "https://" + ln.Addr().String(), nil
}

// serve runs h on ln. The Lambda host and the gateway hold a response for
// as long as a function runs (up to Lambda's 15 minutes), so their write
// timeout is longer than that; the others answer at once.
func (st *devStack) serve(h http.Handler, ln net.Listener, longRunning ...bool) {
	write := 30 * time.Second
	if len(longRunning) > 0 && longRunning[0] {
		write = 16 * time.Minute
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      write,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	st.run(hs, ln)
}

// run serves hs on ln until shutdown.
func (st *devStack) run(hs *http.Server, ln net.Listener) {
	st.servers = append(st.servers, hs)
	go func() {
		if err := hs.Serve(ln); err != http.ErrServerClosed {
			st.serveErr <- err
		}
	}()
}

// shutdown stops the servers, then closes every listener opened, so a
// start that failed halfway leaves nothing open.
func (st *devStack) shutdown() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(st.ctx), 5*time.Second)
	defer cancel()
	for _, hs := range st.servers {
		hs.Shutdown(ctx)
	}
	for _, ln := range st.listeners {
		ln.Close()
	}
}

// gatewayMux serves gatehouse's own OIDC issuer (discovery and keys, for
// broker mode) beside the gateway's routes.
func gatewayMux(issuer *mint.Issuer, gw http.Handler) http.Handler {
	if issuer == nil {
		return gw
	}
	is := issuer.Handler()
	prefix := ""
	if u, err := url.Parse(issuer.URL()); err == nil {
		prefix = u.Path
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix+mint.DiscoveryPath || r.URL.Path == prefix+mint.JWKSPath {
			is.ServeHTTP(w, r)
			return
		}
		gw.ServeHTTP(w, r)
	})
}

// devSTSConfig derives the local STS from the configuration: one IAM OIDC
// provider for gatehouse's issuer (audience sts.amazonaws.com) and one per
// development tenant (the API audiences of the dev issuers), and one IAM
// role per authz role, trusting what `gatehouse aws trust-policy` prints for
// it and allowed to invoke what the logical role reaches. dev.sts.roles
// replaces those per ARN. It returns notes for roles it could not derive.
func devSTSConfig(f *config.File, issuerURL string, srv *idp.Server, hc *http.Client, log *slog.Logger) (devsts.Config, []string, error) {
	var notes []string
	cfg := devsts.Config{HTTPClient: hc, Logger: log, Region: f.Creds.STS.Region}
	cfg.Providers = append(cfg.Providers, devsts.Provider{URL: issuerURL, ClientIDs: []string{creds.Audience}})
	audiences := devAudiences(f)
	idpIssuer := ""
	for _, t := range f.Dev.IDP.Tenants {
		iss := srv.Issuer(t.ID)
		if idpIssuer == "" {
			idpIssuer = iss
		}
		if len(audiences) > 0 {
			cfg.Providers = append(cfg.Providers, devsts.Provider{URL: iss, ClientIDs: audiences})
		}
	}
	overrides := map[string]config.DevSTSRole{}
	for _, r := range f.Dev.STS.Roles {
		overrides[r.ARN] = r
	}
	expand := strings.NewReplacer("${gatehouse_issuer}", strings.TrimPrefix(issuerURL, "https://"), "${idp_issuer}", strings.TrimPrefix(idpIssuer, "https://"))
	seen := map[string]bool{}
	add := func(arn string, trust []byte, invoke []string) error {
		var policy []byte
		acct := build.ARNAccount(arn)
		if cfg.AccountID == "" {
			cfg.AccountID = acct
		} else if acct != cfg.AccountID {
			return fmt.Errorf("local STS: role %s is in account %s, the others in %s: the local STS holds one account", arn, acct, cfg.AccountID)
		}
		if o, ok := overrides[arn]; ok {
			if o.TrustPolicy != "" {
				trust = []byte(expand.Replace(o.TrustPolicy))
			}
			if o.Invoke != nil {
				invoke = o.Invoke
			}
			if o.Policy != "" {
				policy = []byte(expand.Replace(o.Policy))
			}
		}
		if trust == nil {
			return nil
		}
		seen[arn] = true
		cfg.Roles = append(cfg.Roles, devsts.Role{Name: build.RoleName(arn), TrustPolicy: trust, Invoke: invoke, Policy: policy})
		return nil
	}
	for _, r := range append(f.CredsRoles(), execRoles(f)...) {
		if seen[r.ARN] {
			continue // several logical roles may share one IAM role
		}
		params := creds.TrustParams{AccountID: build.ARNAccount(r.ARN), IssuerURL: issuerURL, ProviderURL: idpIssuer}
		if len(audiences) > 0 {
			params.Audience = audiences[0]
		}
		var trust []byte
		if r.Mode == creds.ModeAssumeRole {
			notes = append(notes, fmt.Sprintf("role %s uses assume_role, which needs gatehouse's own AWS identity: give it a trust policy in dev.sts.roles to use it locally", r.Name))
		} else {
			t, err := creds.TrustPolicy(r, params)
			if err != nil {
				return cfg, nil, fmt.Errorf("local STS: role %s: %w", r.Name, err)
			}
			trust = t
		}
		if err := add(r.ARN, trust, invokeOf(f, r.ARN)); err != nil {
			return cfg, nil, err
		}
	}
	for _, o := range f.Dev.STS.Roles {
		if !seen[o.ARN] {
			if err := add(o.ARN, nil, nil); err != nil {
				return cfg, nil, err
			}
		}
	}
	if usesLocalAWS(f) {
		if cfg.AccountID == "" {
			cfg.AccountID = devAccount
		}
		cfg.Roles = append(cfg.Roles, devHostRoleConfig(cfg.AccountID, issuerURL))
	}
	return cfg, notes, nil
}

// invokeOf is every function reached by the logical roles mapped to arn.
func invokeOf(f *config.File, arn string) []string {
	var out []string
	for _, r := range f.AuthZ.Roles {
		if r.AWSRole == arn {
			for _, fn := range r.Functions {
				if !slices.Contains(out, fn) {
					out = append(out, fn)
				}
			}
		}
	}
	return out
}

// devAudiences are the audiences of the issuers backed by the dev IdP.
func devAudiences(f *config.File) []string {
	var out []string
	for _, is := range f.AuthN.Issuers {
		if is.Entra != nil && is.Entra.Authority == config.AuthorityDev {
			for _, a := range is.Audiences {
				if !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// awsServices serves the local AWS services on one endpoint: those of the
// AWS JSON protocol by the service prefix of their X-Amz-Target header
// (secretsmanager.GetSecretValue), STS (the Query protocol) otherwise. An
// SDK reaches each with the same endpoint URL.
func awsServices(stsHandler http.Handler, jsonServices map[string]http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			service, _, _ := strings.Cut(target, ".")
			if h := jsonServices[service]; h != nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		stsHandler.ServeHTTP(w, r)
	})
}
