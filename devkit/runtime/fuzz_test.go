package runtime

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// acceptAll authenticates every request as a session that may invoke
// anything: the fuzzer reaches past authentication.
type acceptAll struct{}

func (acceptAll) Authenticate(*http.Request, []byte, string) (*sts.Session, error) {
	return &sts.Session{AssumedRoleARN: "arn:aws:sts::123456789012:assumed-role/r/s", Invoke: []string{"*"}}, nil
}

// FuzzInvokeAPI: whatever a caller sends, the Invoke API answers with a
// status and, for a refusal, an X-Amzn-ErrorType; it never panics. The
// only function is unknown to the fuzzer's names but "fn" (DryRun only,
// so no process starts).
func FuzzInvokeAPI(f *testing.F) {
	f.Add("fn", "DryRun", "Tail", "eyJhIjoxfQ==", "", []byte(`{}`))
	f.Add("arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST", "DryRun", "", "", "$LATEST", []byte(`[1]`))
	f.Add("123456789012:function:fn", "Event", "None", "!!", "x", []byte(`{`))
	f.Add("fn%2F..", "RequestResponse", "Tail", "", "", []byte{0xff})
	h, err := New(Config{AccountID: "123456789012", STS: acceptAll{}, Functions: []Function{{Name: "fn", Executable: "no-such-dir/bootstrap"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	handler := h.Handler()
	f.Fuzz(func(t *testing.T, name, typ, logType, clientContext, qualifier string, body []byte) {
		if typ != "DryRun" {
			typ = "DryRun" // never start processes from the fuzzer
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.URL.RawPath = ""
		req.URL.Path = "/2015-03-31/functions/" + name + "/invocations"
		req.URL.RawQuery = "Qualifier=" + qualifier
		req.Header.Set("X-Amz-Invocation-Type", typ)
		req.Header.Set("X-Amz-Log-Type", logType)
		req.Header.Set("X-Amz-Client-Context", clientContext)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		switch {
		case w.Code == http.StatusNoContent:
		case w.Code >= 400 && w.Code < 500 && w.Header().Get("X-Amzn-ErrorType") != "":
		default:
			t.Fatalf("status %d, error type %q", w.Code, w.Header().Get("X-Amzn-ErrorType"))
		}
	})
}

// FuzzParsePolicy: any session policy is read or refused, never a panic,
// and an unreadable one never allows.
func FuzzParsePolicy(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:*","Resource":"*"}]}`)
	f.Add(`{"Statement":{"Effect":"Deny","NotAction":["a"],"NotResource":"*","Condition":{}}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		_, err := parsePolicy(doc)
		ok, _ := permitted(&sts.Session{Invoke: []string{"*"}, SessionPolicy: doc}, "fn", "arn:aws:lambda:us-east-1:123456789012:function:fn")
		if err != nil && ok && doc != "" { // "" is no session policy at all
			t.Fatalf("an unreadable policy allowed: %v", err)
		}
	})
}
