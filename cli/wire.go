package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/gateway"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/mint"
	"github.com/gatehouse-dev/gatehouse/pipeline"
	"github.com/gatehouse-dev/gatehouse/revoke"
	"github.com/gatehouse-dev/gatehouse/telemetry"
)

// optionsFor are the build options of the configuration file at path: its
// relative paths start in its directory ("" is the embedded one: the
// working directory).
func optionsFor(path string, dev *config.DevAuthority, stateDir string, log *slog.Logger) build.Options {
	dir := ""
	if path != "" {
		dir = filepath.Dir(path)
	}
	return build.Options{Dir: dir, Dev: dev, StateDir: stateDir, Logger: log}
}

// devAuthorityFor resolves the "dev" authority through the state directory
// of a running `gatehouse dev`, if the configuration uses it; nil if not.
func devAuthorityFor(f *config.File, stateDir string) (*config.DevAuthority, error) {
	uses := false
	for _, is := range f.AuthN.Issuers {
		if is.Entra != nil && is.Entra.Authority == config.AuthorityDev {
			uses = true
		}
	}
	if !uses {
		return nil, nil
	}
	dir, err := resolveStateDir(stateDir, f.Dev.StateDir)
	if err != nil {
		return nil, err
	}
	ep, err := readEndpoints(dir)
	if err != nil {
		return nil, err
	}
	dev := &config.DevAuthority{BaseURL: ep.IDP}
	if ep.CAFile != "" {
		if dev.CAPool, err = config.LoadCAPool(ep.CAFile, false); err != nil {
			return nil, err
		}
	}
	return dev, nil
}

// devClient is an HTTP client trusting the development CA, if dev has one.
func devClient(dev *config.DevAuthority) *http.Client {
	if dev != nil && dev.CAPool != nil {
		return config.HTTPClient(dev.CAPool)
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// gatewayStack is what serve and dev build once and keep for the life of
// the process: gatehouse's issuer, the credential broker, the audit trail.
// snapshot builds, from each version of the configuration file, what the
// gateway swaps whole on reload: verifier, policy, pipeline, routes.
type gatewayStack struct {
	opts        build.Options
	issuer      *mint.Issuer // nil when no route or role needs it
	broker      *creds.Broker
	trail       *build.Trail
	secrets     *build.Secrets     // the file's secret references, kept fresh; nil when none
	revocations *revoke.Store      // revocations, kept current; nil when the file keeps none
	lambdaURL   string             // the Lambda endpoint; "" means AWS's
	client      *http.Client       // for the Lambda endpoint; nil means the SDK's
	publicURL   string             // the gateway's, for metadata and targets
	devIssuer   string             // the dev IdP's issuer ("" outside dev)
	devUpstream string             // what upstream url "dev" names ("" outside dev)
	tracing     *telemetry.Tracing // nil: requests are not traced
	trustTraces bool               // continue the trace context callers send
	log         *slog.Logger

	mu       sync.Mutex
	authn    config.AuthN    // of the verifier below, reused while unchanged
	verifier *authn.Verifier // so a reload keeps its keys and cache
}

// snapshot builds what f gives the gateway. A new verifier is built only
// when the authn section changed (its keys are fetched before it serves).
func (s *gatewayStack) snapshot(ctx context.Context, f *config.File) (gateway.Snapshot, error) {
	v, err := s.verifierFor(ctx, f)
	if err != nil {
		return gateway.Snapshot{}, err
	}
	pol, err := build.Policy(f, s.opts)
	if err != nil {
		return gateway.Snapshot{}, err
	}
	var broker pipeline.Broker // none: every credential request fails with ErrNoCredentials
	if s.broker != nil {
		broker = s.broker
	}
	var revocations pipeline.Revocations // none: nobody is revoked
	if s.revocations != nil {
		revocations = s.revocations
	}
	pl, err := pipeline.New(pipeline.Config{
		Verifier: v, Policy: pol, Broker: broker, Recorder: s.trail.Recorder, Revocations: revocations,
		Pseudonym: s.trail.Pseudonyms.Principal, Claims: f.Audit.Claims, Logger: s.log,
		// Built at start: a reload keeps the tracing the process started with.
		Tracer: s.tracing.TracerProvider(), TrustIncoming: s.trustTraces,
	})
	if err != nil {
		return gateway.Snapshot{}, err
	}
	routes, err := s.routes(f)
	if err != nil {
		return gateway.Snapshot{}, err
	}
	_, urls, scopes := build.Metadata(f, s.devIssuer)
	return gateway.Snapshot{Pipeline: pl, Routes: routes,
		Metadata: gateway.ResourceMetadata{Resource: s.publicURL, AuthorizationServers: urls, ScopesSupported: scopes, ResourceName: "gatehouse"}}, nil
}

func (s *gatewayStack) verifierFor(ctx context.Context, f *config.File) (*authn.Verifier, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verifier != nil && reflect.DeepEqual(s.authn, f.AuthN) {
		return s.verifier, nil
	}
	v, err := build.Verifier(f, s.opts)
	if err != nil {
		return nil, err
	}
	if err := v.Refresh(ctx); err != nil {
		// Not fatal: /readyz says not ready, and tokens get 503 until the
		// keys load.
		s.log.Error("issuer keys not loaded yet", "err", err)
	}
	s.authn, s.verifier = f.AuthN, v
	return v, nil
}

// routes builds each route's target: a Lambda function, or an HTTP upstream
// that gets gatehouse's signed identity assertion.
func (s *gatewayStack) routes(f *config.File) ([]gateway.Route, error) {
	byName, _, scopes := build.Metadata(f, s.devIssuer)
	var out []gateway.Route
	var errs []error
	for _, br := range build.Routes(f) {
		rt := gateway.Route{
			ID: br.ID, Method: br.Method, Host: br.Host, Path: br.Path, Issuers: br.Issuers, Audiences: br.Audiences,
			Action: br.Action, Resource: br.Resource, Role: br.Role, SessionPolicy: br.SessionPolicy, TargetName: br.ID,
		}
		if len(br.Issuers) > 0 {
			// Its own RFC 9728 document: only its issuers.
			m := &gateway.ResourceMetadata{ScopesSupported: scopes, ResourceName: br.ID}
			for _, name := range br.Issuers {
				if u := byName[name]; u != "" {
					m.AuthorizationServers = append(m.AuthorizationServers, u)
				}
			}
			rt.Metadata = m
		}
		var err error
		if br.Upstream != nil {
			rt.Target, err = s.upstream(br)
			rt.NoCredentials = true
		} else {
			rt.TargetName = br.Resource.Name
			rt.Target, err = invoke.NewLambda(invoke.LambdaConfig{
				Function: br.Function, Region: build.Region(f), Endpoint: s.lambdaURL, HTTPClient: s.client,
				Timeout: br.Timeout, PassHeaders: br.PassHeaders,
			})
		}
		if err != nil {
			errs = append(errs, &routeError{br.ID, err})
			continue
		}
		out = append(out, rt)
	}
	return out, errors.Join(errs...)
}

func (s *gatewayStack) upstream(br build.Route) (invoke.Target, error) {
	u := br.Upstream
	base := u.URL
	if base == config.UpstreamDev {
		if s.devUpstream == "" {
			return nil, errNoDevUpstream
		}
		base = s.devUpstream
	}
	if s.issuer == nil {
		return nil, errNoIssuer
	}
	issuer := s.issuer
	return invoke.NewHTTP(invoke.HTTPConfig{
		URL: base, Audience: u.Audience, Timeout: u.Timeout, Logger: s.log, PassHeaders: br.PassHeaders,
		Assert: func(p *authn.Principal, audience, role string) (string, error) {
			return issuer.Assertion(p, audience, role, time.Now())
		},
	})
}

// newGateway builds the gateway of f, with its metrics.
func (s *gatewayStack) newGateway(ctx context.Context, f *config.File) (*gateway.Gateway, error) {
	snap, err := s.snapshot(ctx, f)
	if err != nil {
		return nil, err
	}
	metrics := gateway.NewMetrics()
	var ready func() error
	var admin map[string]http.Handler
	if s.secrets != nil {
		metrics.Register(s.secrets.Set.Collector())
		ready = s.secrets.Set.Ready
		admin = secretsAdmin(s.secrets.Set)
	}
	if s.revocations != nil {
		// Not ready while revocations cannot be confirmed: a load balancer
		// sends callers to replicas that can.
		secretsReady := ready
		ready = func() error {
			if secretsReady != nil {
				if err := secretsReady(); err != nil {
					return err
				}
			}
			return s.revocations.Ready()
		}
	}
	gw, err := gateway.New(gateway.Config{
		Snapshot: snap, PublicURL: s.publicURL, Metrics: metrics, Logger: s.log, Ready: ready, Admin: admin,
		MaxRequestBytes:   int64(f.Gateway.MaxRequestBytes),
		ReadHeaderTimeout: f.Gateway.ReadHeaderTimeout, ReadTimeout: f.Gateway.ReadTimeout,
	})
	if err != nil {
		return nil, err
	}
	// Counters of the parts the gateway runs now (a reload swaps them).
	metrics.WatchVerifier(func() authn.Stats { return gw.Pipeline().Parts().Verifier.(*authn.Verifier).Stats() })
	if s.broker != nil {
		metrics.WatchBroker(s.broker.Stats)
	}
	policy := func() *authz.Engine { return gw.Pipeline().Parts().Policy.(*authz.Engine) }
	metrics.WatchCounter("gatehouse_decision_cache_hits_total", "Policy decisions answered from the decision cache.",
		func() int64 { h, _ := policy().CacheStats(); return h })
	metrics.WatchCounter("gatehouse_decisions_evaluated_total", "Policy decisions evaluated with Cedar.",
		func() int64 { _, m := policy().CacheStats(); return m })
	return gw, nil
}

var (
	errNoDevUpstream = errors.New(`upstream url "dev" names the development upstream, which only 'gatehouse dev' runs`)
	errNoIssuer      = errors.New("an upstream needs gatehouse's issuer (creds.issuer) to sign the identity assertion it receives")
)

type routeError struct {
	id  string
	err error
}

func (e *routeError) Error() string { return "gateway.routes " + e.id + ": " + e.err.Error() }
func (e *routeError) Unwrap() error { return e.err }
