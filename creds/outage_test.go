package creds

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// scriptedSTS answers STS Query requests with the wire bodies of spec §3
// and §4, as a test script says: success, or a given error, or a dropped
// connection.
//
// Why a scripted server and not devkit/sts: these tests need STS to throttle,
// fail and recover on demand, in the middle of a test, which the local STS
// (an honest implementation) never does. Everything else in this package's
// tests runs against devkit/sts. The client is still the real AWS SDK, so
// the error mapping is tested on the errors the SDK really returns.
type scriptedSTS struct {
	clock *testkit.Clock
	mu    sync.Mutex
	mode  string // "ok", "throttle", "idp", "internal", "drop", "denied"
	calls atomic.Int64
	seq   atomic.Int64
}

func (s *scriptedSTS) set(mode string) {
	s.mu.Lock()
	s.mode = mode
	s.mu.Unlock()
}

func (s *scriptedSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	s.mu.Lock()
	mode := s.mode
	s.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	fail := func(status int, typ, code, msg string) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>af0f7b07-5208-11e3-81b2-cfe47957f7e6</RequestId></ErrorResponse>`, typ, code, msg)
	}
	switch mode {
	case "throttle":
		fail(400, "Sender", "Throttling", "Rate exceeded")
		return
	case "idp":
		fail(400, "Sender", "IDPCommunicationError", "Couldn't retrieve verification key from your identity provider")
		return
	case "internal":
		fail(500, "Receiver", "InternalFailure", "internal failure")
		return
	case "denied":
		fail(403, "Sender", "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
		return
	case "drop":
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	n := s.seq.Add(1)
	role := r.Form.Get("RoleArn")
	roleName := role[strings.LastIndex(role, "/")+1:]
	session := r.Form.Get("RoleSessionName")
	exp := s.clock.Now().Add(time.Duration(atoi(r.Form.Get("DurationSeconds"))) * time.Second)
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE%012d</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>
      <SessionToken>IQoJb3JpZ2luX2VjEXAMPLE</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROAEXAMPLEROLEID0001:%s</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/%s/%s</Arn>
    </AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>b1663ad1-23ab-45e9-b465-9af30b202eba</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`, n, exp.UTC().Format(time.RFC3339), html.EscapeString(session), html.EscapeString(roleName), html.EscapeString(session))
}

func atoi(s string) (n int) {
	fmt.Sscan(s, &n)
	return n
}

// newOutageBroker returns a broker in web_identity mode (no issuer needed)
// talking to a scripted STS through the real SDK client, with SDK retries
// off so that one Credentials call is one STS request.
func newOutageBroker(t *testing.T) (*Broker, *scriptedSTS, *testkit.Clock) {
	t.Helper()
	clock := testkit.NewClock(testNow)
	script := &scriptedSTS{clock: clock, mode: "ok"}
	srv := httptest.NewTLSServer(script)
	t.Cleanup(srv.Close)
	client := sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
	b, err := New(Config{
		Roles:  []Role{{Name: "reader", ARN: "arn:aws:iam::123456789012:role/gatehouse-reader", Mode: ModeWebIdentity}},
		STS:    client,
		Now:    clock.Now,
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, script, clock
}

func userRequest(oid string) Request {
	p := testPrincipal()
	p.Subject = oid
	return Request{Principal: p, Role: "reader", Token: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}
}

func wantError(t *testing.T, err error, status int, code string) *Error {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want *creds.Error", err, err)
	}
	if ce.Status != status || ce.Code != code || ce.Role != "reader" {
		t.Fatalf("err = status %d code %q role %q (%v), want %d %q reader", ce.Status, ce.Code, ce.Role, ce, status, code)
	}
	if status == 503 && ce.RetryAfter <= 0 {
		t.Errorf("503 with RetryAfter %v", ce.RetryAfter)
	}
	if status == 403 && !strings.Contains(ce.Reason, `"reader"`) {
		t.Errorf("403 reason %q does not name the role", ce.Reason)
	}
	return ce
}

func TestTransientErrorsAre503(t *testing.T) {
	for _, tt := range []struct{ mode, code string }{
		{"throttle", "Throttling"},
		{"idp", "IDPCommunicationError"},
		{"internal", "InternalFailure"},
		{"drop", ""},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			b, script, _ := newOutageBroker(t)
			script.set(tt.mode)
			_, err := b.Credentials(context.Background(), userRequest(testUserOID))
			ce := wantError(t, err, 503, tt.code)
			if ce.RetryAfter != minBackoff {
				t.Errorf("RetryAfter = %v, want %v on the first failure", ce.RetryAfter, minBackoff)
			}
			if strings.Contains(ce.Reason, "127.0.0.1") {
				t.Errorf("reason %q leaks an internal address", ce.Reason)
			}
		})
	}
}

func TestThrottlingBacksOffForNewPrincipals(t *testing.T) {
	b, script, clock := newOutageBroker(t)
	script.set("throttle")
	ctx := context.Background()
	_, err := b.Credentials(ctx, userRequest(testUserOID))
	wantError(t, err, 503, "Throttling")
	if n := script.calls.Load(); n != 1 {
		t.Fatalf("STS calls = %d, want 1", n)
	}
	// While backing off, new principals get a 503 without a call to STS:
	// calling a throttling STS harder makes it worse.
	clock.Add(400 * time.Millisecond)
	_, err = b.Credentials(ctx, userRequest("690222be-ff1a-4d56-abd1-7e4f7d38e475"))
	ce := wantError(t, err, 503, "")
	if ce.RetryAfter != 600*time.Millisecond || !errors.Is(err, errBackoff) {
		t.Errorf("during backoff: RetryAfter %v err %v, want the 600ms left", ce.RetryAfter, err)
	}
	if n := script.calls.Load(); n != 1 {
		t.Errorf("STS calls during backoff = %d, want still 1", n)
	}
	// The next failure doubles the wait.
	clock.Add(time.Second)
	_, err = b.Credentials(ctx, userRequest(testUserOID))
	if ce := wantError(t, err, 503, "Throttling"); ce.RetryAfter != 2*time.Second {
		t.Errorf("second failure: RetryAfter %v, want 2s", ce.RetryAfter)
	}
	// STS recovers: the next call after the wait succeeds and resets it.
	script.set("ok")
	clock.Add(2 * time.Second)
	if _, err := b.Credentials(ctx, userRequest(testUserOID)); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if got := b.backoff[ModeWebIdentity].remaining(clock.Now()); got != 0 {
		t.Errorf("backoff after success = %v", got)
	}
}

func TestOutageServesCachedSessionsUntilExpiry(t *testing.T) {
	b, script, clock := newOutageBroker(t)
	ctx := context.Background()
	a := userRequest(testUserOID)
	first, err := b.Credentials(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	expires := first.Credentials.Expires
	if !expires.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("expires %v", expires)
	}

	// Inside the refresh margin, STS is down: the cached session serves.
	script.set("throttle")
	clock.Add(time.Hour - 4*time.Minute)
	got, err := b.Credentials(ctx, a)
	if err != nil || got != first {
		t.Fatalf("cached principal during outage: %v, %v; want the cached session", got, err)
	}
	if n := script.calls.Load(); n != 2 {
		t.Errorf("STS calls = %d, want 2 (the refresh attempt)", n)
	}
	// Right after, it serves without asking STS again.
	if got, err := b.Credentials(ctx, a); err != nil || got != first {
		t.Fatalf("second request during outage: %v, %v", got, err)
	}
	if n := script.calls.Load(); n != 2 {
		t.Errorf("STS calls = %d, want still 2 while backing off", n)
	}
	// A new principal gets 503.
	_, err = b.Credentials(ctx, userRequest("690222be-ff1a-4d56-abd1-7e4f7d38e475"))
	wantError(t, err, 503, "")

	// The outage outlasts the credentials: never served past their expiry.
	clock.Add(4*time.Minute + time.Second)
	_, err = b.Credentials(ctx, a)
	wantError(t, err, 503, "Throttling")

	// STS is back: a fresh session.
	script.set("ok")
	clock.Add(time.Minute)
	fresh, err := b.Credentials(ctx, a)
	if err != nil || fresh == first || !fresh.Credentials.Expires.After(expires) {
		t.Fatalf("after the outage: %v, %v; want a new session", fresh, err)
	}
}

func TestAccessDeniedOnRefreshStopsServing(t *testing.T) {
	b, script, clock := newOutageBroker(t)
	ctx := context.Background()
	a := userRequest(testUserOID)
	if _, err := b.Credentials(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The trust policy changed: the refresh is refused, the cached session
	// is dropped though still valid, and every request asks STS again
	// (a refusal is never retried by the broker nor cached as success).
	script.set("denied")
	clock.Add(56 * time.Minute)
	for i := range 2 {
		_, err := b.Credentials(ctx, a)
		wantError(t, err, 403, "AccessDenied")
		if n := script.calls.Load(); n != int64(2+i) {
			t.Errorf("STS calls = %d, want %d", n, 2+i)
		}
	}
	if n := b.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries after a refusal", n)
	}
}

func TestCallerContextEndsWaitNotFlight(t *testing.T) {
	clock := testkit.NewClock(testNow)
	script := &scriptedSTS{clock: clock, mode: "ok"}
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		script.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(), RetryMaxAttempts: 1})
	b, err := New(Config{Roles: []Role{{Name: "reader", ARN: "arn:aws:iam::123456789012:role/gatehouse-reader", Mode: ModeWebIdentity}},
		STS: client, Now: clock.Now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.Credentials(ctx, userRequest(testUserOID))
		done <- err
	}()
	<-arrived // the shared call is in STS
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: err = %v", err)
	}
	// The shared call goes on: the next caller joins it or finds its result
	// in the cache, and STS is asked once.
	close(release)
	if _, err := b.Credentials(context.Background(), userRequest(testUserOID)); err != nil {
		t.Fatal(err)
	}
	if n := script.calls.Load(); n != 1 {
		t.Errorf("STS calls = %d, want 1: the canceled caller's flight served the next one", n)
	}
}
