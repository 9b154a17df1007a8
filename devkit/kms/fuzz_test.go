package kms

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// acceptAll authenticates every request as a session whose role may do
// anything: the fuzzer reaches past authentication.
type acceptAll struct{}

func (acceptAll) Authenticate(*http.Request, []byte, string) (*sts.Session, error) {
	return &sts.Session{AssumedRoleARN: "arn:aws:sts::123456789012:assumed-role/r/s",
		Policy: `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`}, nil
}

// FuzzHandler: whatever a caller sends, the handler answers 200 with JSON
// or 400 with KMS's error body; it never panics or answers 500. Each input
// meets a new server holding the same two keys (RSA 2048 as alias/rsa, P-256
// as alias/ec; made once, as key generation is slow), so coverage is
// reproducible. CreateKey is left out for the same reason.
func FuzzHandler(f *testing.F) {
	const ec = "alias/ec"
	for _, seed := range []struct{ op, body string }{
		{"Sign", `{"KeyId":"alias/rsa","Message":"aGVsbG8=","SigningAlgorithm":"RSASSA_PSS_SHA_256"}`},
		{"Sign", `{"KeyId":"` + ec + `","Message":"` + strings.Repeat("A", 43) + `=","MessageType":"DIGEST","SigningAlgorithm":"ECDSA_SHA_256"}`},
		{"Verify", `{"KeyId":"alias/rsa","Message":"aGVsbG8=","Signature":"AAAA","SigningAlgorithm":"RSASSA_PKCS1_V1_5_SHA_512"}`},
		{"GetPublicKey", `{"KeyId":"arn:aws:kms:us-east-1:123456789012:alias/ec"}`},
		{"DescribeKey", `{"KeyId":"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000"}`},
		{"CreateAlias", `{"AliasName":"alias/x","TargetKeyId":"alias/rsa"}`},
		{"UpdateAlias", `{"AliasName":"alias/ec","TargetKeyId":"00000000-0000-4000-8000-000000000000"}`},
		{"DeleteAlias", `{"AliasName":"alias/rsa"}`},
		{"ListAliases", `{"Limit":1,"Marker":"MQ","KeyId":"alias/ec"}`},
		{"ScheduleKeyDeletion", `{"KeyId":"alias/ec","PendingWindowInDays":7}`},
		{"CancelKeyDeletion", `{"KeyId":"alias/ec"}`},
		{"DisableKey", `{"KeyId":"alias/rsa"}`},
		{"EnableKey", `{"KeyId":"alias/rsa"}`},
		{"Sign", `{"KeyId":1}`},
		{"Nope", "\xff"},
	} {
		f.Add(seed.op, []byte(seed.body))
	}
	tmpl, err := New(Config{Account: "123456789012", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := tmpl.CreateKey("RSA_2048", "rsa"); err != nil {
		f.Fatal(err)
	}
	if _, err := tmpl.CreateKey("ECC_NIST_P256", "ec"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		if op == "CreateKey" {
			return
		}
		s, err := New(Config{Account: "123456789012", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		s.auth = acceptAll{}
		for id, k := range tmpl.keys {
			c := *k
			s.keys[id] = &c
		}
		for n, a := range tmpl.aliases {
			c := *a
			s.aliases[n] = &c
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "TrentService."+op)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		var e struct {
			Type string `json:"__type"`
		}
		switch w.Code {
		case http.StatusOK:
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("200 with a body that is not JSON: %q", w.Body)
			}
		case http.StatusBadRequest:
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || !strings.HasSuffix(e.Type, "Exception") || w.Header().Get("X-Amzn-ErrorType") != e.Type {
				t.Fatalf("400 without an error body: %q", w.Body)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}
