package sts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestAuthenticateLambdaRequest is devkit/runtime's use: a Lambda API
// server calls Authenticate(r, body, "lambda") on requests hand-signed with
// the SDK's v4 signer using credentials this STS issued.
func TestAuthenticateLambdaRequest(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, []Role{{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity), Invoke: []string{"reports-*"}}})
	creds := f.assume(t, iss, "gatehouse-reader", "ada", map[string]any{claimSourceIdentity: "ada"})

	// The "Lambda API": answers 200 with the session's ARN, or the code.
	lambda := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		sess, err := f.srv.Authenticate(r, body, "lambda")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(e.Status)
			_, _ = io.WriteString(w, e.Code)
			return
		}
		_, _ = io.WriteString(w, sess.AssumedRoleARN+" "+sess.SourceIdentity+" "+strings.Join(sess.Invoke, ","))
	}))
	t.Cleanup(lambda.Close)

	const invokePath = "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:reports-monthly/invocations"
	tests := []struct {
		name     string
		service  string
		path     string
		query    string
		body     string
		creds    func(aws.Credentials) aws.Credentials
		signedAt time.Duration // offset of the signing time
		after    func(*http.Request)
		want     string // status and body
	}{
		{name: "signed invoke request", service: "lambda", path: invokePath, body: `{"hello":"world"}`,
			want: "200 arn:aws:sts::123456789012:assumed-role/gatehouse-reader/ada ada reports-*"},
		{name: "query string and empty body", service: "lambda", path: "/2015-03-31/functions", query: "MaxItems=10&Marker=a%2Fb",
			want: "200 arn:aws:sts::123456789012:assumed-role/gatehouse-reader/ada ada reports-*"},
		{name: "an unsigned header added after signing is ignored", service: "lambda", path: invokePath, body: `{}`,
			after: func(r *http.Request) { r.Header.Set("X-Unsigned", "1") },
			want:  "200 arn:aws:sts::123456789012:assumed-role/gatehouse-reader/ada ada reports-*"},
		{name: "signed for sts, not lambda", service: "sts", path: invokePath, body: `{}`,
			want: "403 SignatureDoesNotMatch"},
		{name: "body changed after signing", service: "lambda", path: invokePath, body: `{"amount":1}`,
			after: func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader(`{"amount":9}`))
			},
			want: "403 SignatureDoesNotMatch"},
		{name: "path changed after signing", service: "lambda", path: invokePath, body: `{}`,
			after: func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "reports-monthly", "payroll", 1) },
			want:  "403 SignatureDoesNotMatch"},
		{name: "query changed after signing", service: "lambda", path: "/2015-03-31/functions", query: "MaxItems=10",
			after: func(r *http.Request) { r.URL.RawQuery = "MaxItems=50" },
			want:  "403 SignatureDoesNotMatch"},
		{name: "signed header changed after signing", service: "lambda", path: invokePath, body: `{}`,
			after: func(r *http.Request) { r.Header.Set("X-Amz-Invocation-Type", "Event") },
			want:  "403 SignatureDoesNotMatch"},
		{name: "signature ten minutes old", service: "lambda", path: invokePath, body: `{}`, signedAt: -10 * time.Minute,
			want: "403 SignatureDoesNotMatch"},
		{name: "unknown access key", service: "lambda", path: invokePath, body: `{}`,
			creds: func(c aws.Credentials) aws.Credentials { c.AccessKeyID = "ASIAAAAAAAAAAAAAAAAA"; return c },
			want:  "403 InvalidClientTokenId"},
		{name: "wrong secret", service: "lambda", path: invokePath, body: `{}`,
			creds: func(c aws.Credentials) aws.Credentials { c.SecretAccessKey = "x"; return c },
			want:  "403 SignatureDoesNotMatch"},
		{name: "session token removed", service: "lambda", path: invokePath, body: `{}`,
			after: func(r *http.Request) { r.Header.Del("X-Amz-Security-Token") },
			want:  "403 InvalidClientTokenId"},
		{name: "Authorization header removed", service: "lambda", path: invokePath, body: `{}`,
			after: func(r *http.Request) { r.Header.Del("Authorization") },
			want:  "403 MissingAuthenticationToken"},
		{name: "malformed credential scope", service: "lambda", path: invokePath, body: `{}`,
			after: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "", 1))
			},
			want: "400 IncompleteSignature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := lambda.URL + tc.path
			if tc.query != "" {
				u += "?" + tc.query
			}
			req, err := http.NewRequestWithContext(callContext(t), http.MethodPost, u, bytes.NewReader([]byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
			c := creds
			if tc.creds != nil {
				c = tc.creds(c)
			}
			sum := sha256.Sum256([]byte(tc.body))
			if err := v4.NewSigner().SignHTTP(req.Context(), c, req, hex.EncodeToString(sum[:]), tc.service, "us-east-1", time.Now().Add(tc.signedAt)); err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				tc.after(req)
			}
			resp, err := lambda.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if got := resp.Status[:3] + " " + string(b); got != tc.want {
				t.Errorf("response %q, want %q", got, tc.want)
			}
		})
	}
}
