package secretsmanager

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// addHeader is a RoundTripper that adds a header after the SDK signed.
type addHeader struct {
	rt        http.RoundTripper
	name, val string
}

func (a addHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(a.name, a.val)
	return a.rt.RoundTrip(r)
}

// TestProtocol: what is refused before an operation runs, on the wire.
func TestProtocol(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	post := func(method, contentType, body string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(testContext(t), method, f.ts.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Amz-Target", "secretsmanager.ListSecrets")
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(b[:n])
	}
	for _, tc := range []struct{ method, ct, body, code string }{
		{http.MethodGet, "application/x-amz-json-1.1", "", "UnknownOperationException"},
		{http.MethodPost, "application/json", "{}", "SerializationException"},
		{http.MethodPost, "application/x-amz-json-1.1", strings.Repeat(" ", maxBodyBytes+1), "ValidationException"},
		{http.MethodPost, "application/x-amz-json-1.1", "{}", "MissingAuthenticationTokenException"},
	} {
		status, code, body := post(tc.method, tc.ct, tc.body)
		if status != 400 || code != tc.code || !strings.Contains(body, `"__type":"`+tc.code+`"`) {
			t.Errorf("%s %s (%d bytes) = %d %s %s, want 400 %s", tc.method, tc.ct, len(tc.body), status, code, body, tc.code)
		}
	}

	// A header added after signing is refused: X-Amz-* headers carry
	// meaning, so each must be signed.
	c := f.creds(t, "admin", "")
	client := sm.New(sm.Options{Region: testRegion, BaseEndpoint: aws.String(f.ts.URL), RetryMaxAttempts: 1,
		HTTPClient:  &http.Client{Transport: addHeader{f.ts.Client().Transport, "X-Amz-Extra", "1"}},
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)})
	_, err := client.ListSecrets(testContext(t), &sm.ListSecretsInput{})
	if msg := wantAPIError(t, err, "InvalidSignatureException"); !strings.Contains(msg, "X-Amz-Extra is not signed") {
		t.Errorf("message %q", msg)
	}
	// Changing the operation after signing breaks the signature.
	client = sm.New(sm.Options{Region: testRegion, BaseEndpoint: aws.String(f.ts.URL), RetryMaxAttempts: 1,
		HTTPClient:  &http.Client{Transport: addHeader{f.ts.Client().Transport, "X-Amz-Target", "secretsmanager.DeleteSecret"}},
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)})
	_, err = client.DescribeSecret(testContext(t), &sm.DescribeSecretInput{SecretId: aws.String("x")})
	wantAPIError(t, err, "InvalidSignatureException")
}
