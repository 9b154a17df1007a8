package secretsmanager

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
// or 400 with Secrets Manager's error body; it never panics or answers 500.
// Each input meets a new server holding app/db (two versions), bin (binary)
// and gone (scheduled for deletion): a fuzz target that kept state between
// inputs would make coverage unreproducible and minimization endless.
func FuzzHandler(f *testing.F) {
	for _, seed := range []struct{ op, body string }{
		{"CreateSecret", `{"Name":"app/db","SecretString":"{\"a\":1}","ClientRequestToken":"00000000-0000-4000-8000-000000000001","Tags":[{"Key":"k","Value":"v"}]}`},
		{"CreateSecret", `{"Name":"bin","SecretBinary":"AAEC/w=="}`},
		{"GetSecretValue", `{"SecretId":"app/db","VersionStage":"AWSPREVIOUS"}`},
		{"GetSecretValue", `{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db","VersionId":"00000000-0000-4000-8000-000000000001"}`},
		{"PutSecretValue", `{"SecretId":"app/db","SecretString":"x","VersionStages":["AWSCURRENT","AWSPENDING"]}`},
		{"UpdateSecretVersionStage", `{"SecretId":"app/db","VersionStage":"AWSCURRENT","MoveToVersionId":"00000000-0000-4000-8000-000000000001","RemoveFromVersionId":"00000000-0000-4000-8000-000000000002"}`},
		{"DescribeSecret", `{"SecretId":"app/db"}`},
		{"ListSecretVersionIds", `{"SecretId":"app/db","IncludeDeprecated":true,"MaxResults":1,"NextToken":"MQ"}`},
		{"ListSecrets", `{"Filters":[{"Key":"name","Values":["!app"]}],"SortOrder":"desc","SortBy":"name","MaxResults":1}`},
		{"DeleteSecret", `{"SecretId":"app/db","RecoveryWindowInDays":7}`},
		{"DeleteSecret", `{"SecretId":"bin","ForceDeleteWithoutRecovery":true}`},
		{"RestoreSecret", `{"SecretId":"app/db"}`},
		{"GetSecretValue", `{"SecretId":1}`},
		{"CreateSecret", `{"Name":"a","Name":"b"}`},
		{"Nope", "\xff"},
	} {
		f.Add(seed.op, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		s, err := New(Config{Account: "123456789012", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		s.auth = acceptAll{}
		for _, v := range []string{"one", "two"} {
			if _, _, err := s.PutSecret("app/db", []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		_, _, _ = s.PutSecretBinary("bin", []byte{0xff})
		_, _, _ = s.PutSecret("gone", []byte("x"))
		s.secrets["gone"].DeletionDate = s.now().Add(time.Hour)
		h := s.Handler()
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "secretsmanager."+op)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		switch w.Code {
		case http.StatusOK:
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("200 with a body that is not JSON: %q", w.Body)
			}
		case http.StatusBadRequest:
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Type == "" || !strings.HasSuffix(e.Type, "Exception") ||
				w.Header().Get("X-Amzn-ErrorType") != e.Type {
				t.Fatalf("400 without an error body: %q", w.Body)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if w.Header().Get("x-amzn-RequestId") == "" {
			t.Fatal("no request id")
		}
	})
}
