package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/invoke"
)

// The steps are faked here so that every failure of every step can be
// forced and the one mapping from failure to refusal checked with the
// event it leaves; the real steps run through the front doors in
// frontdoors_test.go.

type fakeVerifier struct {
	p   *authn.Principal
	err error
}

func (f fakeVerifier) Verify(context.Context, string) (*authn.Principal, error) { return f.p, f.err }
func (fakeVerifier) Ready() bool                                                { return true }

type fakePolicy struct{ allow bool }

func (f fakePolicy) Decide(_ *authn.Principal, r authz.Request) authz.Decision {
	if f.allow {
		return authz.Decision{Allow: true, Role: "reader", Policies: []string{"p1"}}
	}
	return authz.Decision{Reason: "no rule grants " + r.Action}
}

type fakeBroker struct {
	mu    sync.Mutex
	calls int
	err   error
}

func (b *fakeBroker) Credentials(context.Context, creds.Request) (*creds.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.err != nil {
		return nil, b.err
	}
	return &creds.Session{SessionName: "sess"}, nil
}

type fakeRecorder struct {
	events []audit.Event
	err    error
}

func (r *fakeRecorder) Record(_ context.Context, ev *audit.Event) error {
	r.events = append(r.events, *ev)
	return r.err
}

var alice = &authn.Principal{IssuerName: "corp", Subject: "oid-a", Tenant: "t1", Kind: authn.KindUser, App: "cli",
	Actors: []authn.Actor{{Subject: "agent", App: "agent-app", Via: authn.ActorViaAct}},
	Claims: map[string]any{"aud": "api://x", "azpacr": "0", "upn": "alice@example"}}

// testNow is the pipelines' clock: it never moves, so an event's Time is
// testNow and its latency 0.
var testNow = time.Unix(1700000000, 0)

// aliceEvent is ev with alice as the event names her: her pseudonym, her
// agent, and of the allow-listed claims all but upn, which is personal.
func aliceEvent(ev audit.Event) audit.Event {
	ev.Tenant, ev.Principal, ev.PrincipalKind, ev.App = "t1", "p:t1/oid-a", "user", "cli"
	ev.Agents = []audit.Agent{{App: "agent-app", Via: authn.ActorViaAct, Subject: "agent-app"}}
	ev.Claims = map[string]string{"azpacr": "0"}
	return ev
}

func newPipeline(t *testing.T, v fakeVerifier, p fakePolicy, b *fakeBroker, r *fakeRecorder) *Pipeline {
	t.Helper()
	cfg := Config{Verifier: v, Policy: p, Recorder: r, Pseudonym: func(tenant, subject string) string { return "p:" + tenant + "/" + subject },
		Claims: []string{"azpacr", "upn"}, Now: func() time.Time { return testNow },
		Logger: slog.New(slog.DiscardHandler)}
	if b != nil {
		cfg.Broker = b
	}
	pl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func TestRefusals(t *testing.T) {
	req := Request{ID: "r1", Route: "hello", Token: "t", Action: "invoke", Resource: authz.Resource{Kind: "function", Name: "hello"}, MetadataURL: "https://gw/.well-known/oauth-protected-resource"}
	// allowed is alice's allowed event; invoked adds the credentials and
	// the target, named only when it ran.
	allowed := func(class string, invoked bool) audit.Event {
		ev := aliceEvent(audit.Event{Decision: audit.DecisionAllow, Policies: []string{"p1"}, Role: "reader", ErrorClass: class})
		if invoked {
			ev.STSSession, ev.Target, ev.TargetRequestID = "sess", "hello", "lambda-1"
		}
		return ev
	}
	refused := func(check, class string) audit.Event {
		return audit.Event{Decision: audit.DecisionError, Check: check, ErrorClass: class}
	}
	tests := []struct {
		name       string
		req        func(Request) Request
		verifier   fakeVerifier
		policy     fakePolicy
		broker     error
		target     error
		recordErr  error
		wantStatus int
		wantCode   string
		wantChall  string // substring of the challenge
		wantRetry  int
		wantEvent  audit.Event // beside the request's id, route, action and resource, and the status
	}{
		{name: "no token", req: func(r Request) Request { r.TokenErr = authn.ErrNoToken; return r },
			wantStatus: 401, wantCode: "unauthorized", wantChall: `resource_metadata="https://gw/`,
			wantEvent: refused("request", "invalid_request")},
		{name: "two tokens", req: func(r Request) Request {
			r.TokenErr = &authn.Error{Kind: authn.InvalidRequest, Check: authn.CheckRequest, Reason: "several bearer tokens"}
			return r
		}, wantStatus: 400, wantCode: "invalid_request", wantChall: `error="invalid_request"`,
			wantEvent: refused("request", "invalid_request")},
		{name: "bad signature", verifier: fakeVerifier{err: &authn.Error{Kind: authn.InvalidToken, Check: "signature", Reason: "signature does not verify"}},
			wantStatus: 401, wantCode: "invalid_token", wantChall: `error_description="signature: signature does not verify"`,
			wantEvent: refused("signature", "invalid_token")},
		{name: "keys unavailable", verifier: fakeVerifier{err: &authn.Error{Kind: authn.Unavailable, Check: "keys", Reason: "keys unavailable"}},
			wantStatus: 503, wantCode: "temporarily_unavailable", wantRetry: 30,
			wantEvent: refused("keys", "temporarily_unavailable")},
		{name: "issuer not accepted on the route", verifier: fakeVerifier{p: alice}, req: func(r Request) Request { r.Issuers = []string{"partner"}; return r },
			wantStatus: 401, wantCode: "invalid_token", wantChall: `error_description="iss: `,
			wantEvent: aliceEvent(refused("iss", "invalid_token"))},
		{name: "audience not accepted on the route", verifier: fakeVerifier{p: alice}, req: func(r Request) Request { r.Audiences = []string{"api://y"}; return r },
			wantStatus: 401, wantCode: "invalid_token", wantChall: `error_description="aud: `,
			wantEvent: aliceEvent(refused("aud", "invalid_token"))},
		{name: "denied", verifier: fakeVerifier{p: alice},
			wantStatus: 403, wantCode: "insufficient_scope", wantChall: `error="insufficient_scope"`,
			wantEvent: aliceEvent(audit.Event{Decision: audit.DecisionDeny, ErrorClass: "access_denied"})},
		{name: "STS refused the role", verifier: fakeVerifier{p: alice}, policy: fakePolicy{allow: true},
			broker:     &creds.Error{Status: 403, Role: "reader", Code: "AccessDenied", Reason: `role "reader" refused the session`},
			wantStatus: 403, wantCode: "credentials_refused",
			wantEvent: allowed("credentials:AccessDenied", false)},
		{name: "STS down", verifier: fakeVerifier{p: alice}, policy: fakePolicy{allow: true},
			broker:     &creds.Error{Status: 503, Role: "reader", Reason: "AWS STS is unavailable", RetryAfter: 1500 * time.Millisecond},
			wantStatus: 503, wantCode: "temporarily_unavailable", wantRetry: 2,
			wantEvent: allowed("credentials", false)},
		{name: "target timed out", verifier: fakeVerifier{p: alice}, policy: fakePolicy{allow: true},
			target:     &invoke.Error{Status: 504, Code: invoke.CodeFunctionTimeout, Reason: "the function timed out"},
			wantStatus: 504, wantCode: invoke.CodeFunctionTimeout,
			wantEvent: allowed("target:function_timeout", true)},
		{name: "a bug shows only the request id", verifier: fakeVerifier{p: alice}, policy: fakePolicy{allow: true},
			target:     errors.New("internal detail 10.0.0.7"),
			wantStatus: 500, wantCode: "server_error",
			wantEvent: allowed("", true)},
		{name: "body too large before anything", req: func(r Request) Request {
			r.Early = &Error{Status: 413, Code: "request_too_large", Description: "the request body is too large"}
			return r
		}, wantStatus: 413, wantCode: "request_too_large",
			wantEvent: refused("", "request_too_large")},
		// The event as the trail was offered it, with the target's status,
		// before the trail refused it.
		{name: "audit trail down", verifier: fakeVerifier{p: alice}, policy: fakePolicy{allow: true}, recordErr: errors.New("disk full"),
			wantStatus: 503, wantCode: "temporarily_unavailable", wantRetry: 5,
			wantEvent: allowed("", true)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{err: tc.recordErr}
			b := &fakeBroker{err: tc.broker}
			pl := newPipeline(t, tc.verifier, tc.policy, b, rec)
			r := req
			if tc.req != nil {
				r = tc.req(r)
			}
			invoked := false
			out := pl.Run(context.Background(), r, func(ctx context.Context, c *Call) (int, error) {
				if _, err := c.Credentials(ctx); err != nil {
					return 0, err
				}
				invoked = true
				c.Invoked("hello", "lambda-1")
				return 200, tc.target
			})
			ref := out.Refusal
			if ref == nil {
				t.Fatalf("no refusal; status %d", out.Status)
			}
			if ref.Status != tc.wantStatus || ref.Code != tc.wantCode || out.Status != tc.wantStatus || ref.RetryAfter != tc.wantRetry || ref.RequestID != "r1" {
				t.Errorf("refusal %+v (outcome status %d), want %d %s retry %d", ref, out.Status, tc.wantStatus, tc.wantCode, tc.wantRetry)
			}
			if !strings.Contains(ref.Challenge, tc.wantChall) || (tc.wantChall == "" && ref.Challenge != "") {
				t.Errorf("challenge %q, want %q", ref.Challenge, tc.wantChall)
			}
			if strings.Contains(string(ref.Body()), "10.0.0.7") || !strings.Contains(string(ref.Body()), `"request_id":"r1"`) {
				t.Errorf("body %s", ref.Body())
			}
			if len(rec.events) != 1 {
				t.Fatalf("%d events, want 1", len(rec.events))
			}
			ev := rec.events[0]
			want := tc.wantEvent
			want.Time, want.RequestID, want.Route, want.Action, want.Resource, want.Status = testNow, "r1", "hello", "invoke", "function:hello", tc.wantStatus
			if tc.recordErr != nil {
				want.Status = 200 // what the event said when the trail refused it
			}
			if diff := testkit.DiffEvent(want, ev, "Time", "LatencyMicros"); diff != "" {
				t.Errorf("audit event (-want +got):\n%s", diff)
			}
			if (ev.Target == "hello") != invoked {
				t.Errorf("event target %q, invoked %v: a target is named only when it ran", ev.Target, invoked)
			}
		})
	}
}

func TestAllowedRun(t *testing.T) {
	rec := &fakeRecorder{}
	b := &fakeBroker{}
	pl := newPipeline(t, fakeVerifier{p: alice}, fakePolicy{allow: true}, b, rec)
	var call *Call
	out := pl.Run(context.Background(), Request{ID: "r1", Route: "hello", Token: "t", Action: "invoke", Resource: authz.Resource{Kind: "function", Name: "hello"}},
		func(ctx context.Context, c *Call) (int, error) {
			call = c
			s1, err := c.Credentials(ctx)
			s2, _ := c.Credentials(ctx)
			if err != nil || s1 != s2 {
				t.Errorf("Credentials: %v; a second call must return the same session", err)
			}
			c.Invoked("hello", "lambda-1")
			return 201, nil
		})
	if out.Refusal != nil || out.Status != 201 {
		t.Fatalf("outcome %+v", out)
	}
	want := aliceEvent(audit.Event{Time: testNow, RequestID: "r1", Route: "hello", Action: "invoke", Resource: "function:hello",
		Decision: audit.DecisionAllow, Policies: []string{"p1"}, Role: "reader", STSSession: "sess", Target: "hello", TargetRequestID: "lambda-1", Status: 201})
	if diff := testkit.DiffEvent(want, rec.events[0], "Time", "LatencyMicros"); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
	if b.calls != 1 {
		t.Errorf("broker called %d times, want once", b.calls)
	}
	// After the request, no credentials: a client kept past it would act
	// for a caller who is gone; and Finish records nothing twice.
	if _, err := call.Credentials(context.Background()); !errors.Is(err, ErrCallOver) {
		t.Errorf("Credentials after Finish: %v, want ErrCallOver", err)
	}
	if err := call.Finish(context.Background(), 500); err != nil || len(rec.events) != 1 {
		t.Errorf("a second Finish recorded again (%d events)", len(rec.events))
	}
}

// A target that answers (a stream) finishes the call itself at its status;
// Run records nothing more.
func TestRunAfterStreamedFinish(t *testing.T) {
	rec := &fakeRecorder{}
	pl := newPipeline(t, fakeVerifier{p: alice}, fakePolicy{allow: true}, nil, rec)
	out := pl.Run(context.Background(), Request{ID: "r1", Token: "t", Action: "read", Resource: authz.Resource{Kind: "route", Name: "api"}},
		func(ctx context.Context, c *Call) (int, error) {
			if err := c.Finish(ctx, http.StatusSwitchingProtocols); err != nil {
				t.Fatal(err)
			}
			return http.StatusSwitchingProtocols, errors.New("the connection broke later")
		})
	if out.Refusal != nil || len(rec.events) != 1 {
		t.Fatalf("outcome %+v, events %+v", out, rec.events)
	}
	want := aliceEvent(audit.Event{Time: testNow, RequestID: "r1", Action: "read", Resource: "route:api",
		Decision: audit.DecisionAllow, Policies: []string{"p1"}, Role: "reader", Status: 101})
	if diff := testkit.DiffEvent(want, rec.events[0], "Time", "LatencyMicros"); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
}

// Without a broker, credentials are ErrNoCredentials; a failure to obtain
// them that did not refuse the request (a Lambda handler asked lazily) is
// still the event's error class.
func TestNoCredentials(t *testing.T) {
	rec := &fakeRecorder{}
	pl := newPipeline(t, fakeVerifier{p: alice}, fakePolicy{allow: true}, nil, rec)
	pl.Run(context.Background(), Request{ID: "r1", Token: "t", Action: "invoke", Resource: authz.Resource{Kind: "function", Name: "f"}},
		func(ctx context.Context, c *Call) (int, error) {
			if _, err := c.Credentials(ctx); !errors.Is(err, ErrNoCredentials) {
				t.Errorf("Credentials without a broker: %v", err)
			}
			return 200, nil
		})
	want := aliceEvent(audit.Event{Time: testNow, RequestID: "r1", Action: "invoke", Resource: "function:f",
		Decision: audit.DecisionAllow, Policies: []string{"p1"}, Role: "reader", Status: 200, ErrorClass: "credentials"})
	if diff := testkit.DiffEvent(want, rec.events[0], "Time", "LatencyMicros"); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
}

func TestUnrouted(t *testing.T) {
	rec := &fakeRecorder{}
	pl := newPipeline(t, fakeVerifier{}, fakePolicy{}, nil, rec)
	if err := pl.Unrouted(context.Background(), "r9", 404, "no_route"); err != nil {
		t.Fatal(err)
	}
	want := audit.Event{Time: testNow, RequestID: "r9", Decision: audit.DecisionError, Status: 404, ErrorClass: "no_route"}
	if diff := testkit.DiffEvent(want, rec.events[0], "Time", "LatencyMicros"); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
	rec.err = errors.New("down")
	if err := pl.Unrouted(context.Background(), "r10", 400, "x"); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Unrouted with the trail down: %v", err)
	}
}
