package invoke

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

// readBack turns what WriteResponse wrote into the events type a function
// would have returned: lower-cased single-valued headers, cookies from
// Set-Cookie, the body base64-encoded when it is not UTF-8.
func readBack(t *testing.T, rec *httptest.ResponseRecorder) events.APIGatewayV2HTTPResponse {
	t.Helper()
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := events.APIGatewayV2HTTPResponse{StatusCode: res.StatusCode, Headers: map[string]string{}, Cookies: res.Header.Values("Set-Cookie")}
	for name, values := range res.Header {
		if name == "Set-Cookie" || name == "Content-Length" {
			continue
		}
		out.Headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	if isText("", body) {
		out.Body = string(body)
	} else {
		out.Body, out.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return out
}

// Responses built with the events type, as Go functions return them, come
// out as the same status, headers, cookies and body.
func TestWriteResponseRoundTripsEventsTypes(t *testing.T) {
	binary := []byte{0x89, 'P', 'N', 'G', 0, 0xff, 0xfe}
	tests := []struct {
		name string
		in   events.APIGatewayV2HTTPResponse
	}{
		{"json", events.APIGatewayV2HTTPResponse{
			StatusCode: 201,
			Headers:    map[string]string{"content-type": "application/json", "x-report": "42"},
			Body:       `{"ok":true}`,
		}},
		{"cookies", events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"content-type": "text/plain; charset=utf-8"},
			Cookies:    []string{"sid=abc; HttpOnly; Secure", "theme=dark; Max-Age=3600"},
			Body:       "hello",
		}},
		{"binary", events.APIGatewayV2HTTPResponse{
			StatusCode:      200,
			Headers:         map[string]string{"content-type": "image/png"},
			Body:            base64.StdEncoding.EncodeToString(binary),
			IsBase64Encoded: true,
		}},
		{"error status", events.APIGatewayV2HTTPResponse{
			StatusCode: 404,
			Headers:    map[string]string{"content-type": "application/problem+json"},
			Body:       `{"title":"no such report"}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := json.Marshal(tt.in) // nulls for the empty members, as aws-lambda-go sends
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			status, err := WriteResponse(rec, payload)
			if err != nil || status != tt.in.StatusCode {
				t.Fatalf("WriteResponse = %d, %v; want %d", status, err, tt.in.StatusCode)
			}
			got := readBack(t, rec)
			want := tt.in
			if want.Cookies == nil {
				want.Cookies = []string(nil)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("response (-returned +written):\n%s", diff)
			}
			if got := rec.Header().Get("Content-Length"); got == "" {
				t.Error("no Content-Length")
			}
		})
	}
}

func TestWriteResponseMultiValueHeadersAndCookies(t *testing.T) {
	payload := `{"statusCode":200,
		"headers":{"x-one":"1","x-count":5,"x-flag":true},
		"multiValueHeaders":{"x-many":["a","b"],"set-cookie":["from=header"]},
		"cookies":["a=1","b=2; Path=/"],
		"body":"ok"}`
	rec := httptest.NewRecorder()
	if _, err := WriteResponse(rec, []byte(payload)); err != nil {
		t.Fatal(err)
	}
	h := rec.Header()
	checks := map[string][]string{
		"X-One":      {"1"},
		"X-Count":    {"5"},
		"X-Flag":     {"true"},
		"X-Many":     {"a", "b"},
		"Set-Cookie": {"from=header", "a=1", "b=2; Path=/"},
	}
	for name, want := range checks {
		if diff := cmp.Diff(want, h.Values(name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// The plain-JSON shortcut: valid JSON without statusCode is a 200 JSON body.
func TestWriteResponsePlainJSONShortcut(t *testing.T) {
	for _, payload := range []string{
		`"Hello"`,
		`{"message":"hi"}`,
		`{"StatusCode":201}`, // names are case-sensitive, as in API Gateway
		`[1,2,3]`,
		`42`,
		`true`,
		`null`,
		`{"headers":5,"body":7}`,
	} {
		t.Run(payload, func(t *testing.T) {
			rec := httptest.NewRecorder()
			status, err := WriteResponse(rec, []byte(payload+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if status != 200 || rec.Code != 200 {
				t.Errorf("status = %d (written %d), want 200", status, rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if rec.Body.String() != payload {
				t.Errorf("body = %q, want %q", rec.Body.String(), payload)
			}
		})
	}
}

func TestWriteResponseRefusesInvalidPayloads(t *testing.T) {
	for _, tt := range []struct{ name, payload string }{
		{"empty", ""},
		{"not JSON", "Hello"},
		{"trailing data", `{"statusCode":200} x`},
		{"duplicate member", `{"statusCode":200,"statusCode":500}`},
		{"invalid UTF-8", "\"\xff\""},
		{"status as string", `{"statusCode":"200"}`},
		{"status not final", `{"statusCode":101}`},
		{"status out of range", `{"statusCode":600}`},
		{"status zero", `{"statusCode":0}`},
		{"status null", `{"statusCode":null}`},
		{"bad base64 body", `{"statusCode":200,"body":"***","isBase64Encoded":true}`},
		{"body not a string", `{"statusCode":200,"body":{"a":1}}`},
		{"headers not an object", `{"statusCode":200,"headers":["a"]}`},
		{"cookies not strings", `{"statusCode":200,"cookies":[1]}`},
		{"headers over the total cap", `{"statusCode":200,"multiValueHeaders":{"x-big":[` + strings.Repeat(`"`+strings.Repeat("v", 8000)+`",`, 9) + `"v"]}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set("X-Request-Id", "gh-1")
			status, err := WriteResponse(rec, []byte(tt.payload))
			var ie *Error
			if !errors.As(err, &ie) || ie.Status != http.StatusBadGateway || ie.Code != CodeBadResponse {
				t.Fatalf("WriteResponse = %d, %v; want a 502 %s *Error", status, err, CodeBadResponse)
			}
			if len(rec.Header()) != 1 || rec.Body.Len() != 0 || rec.Flushed {
				t.Errorf("WriteResponse wrote something before failing: headers %v, body %q", rec.Header(), rec.Body)
			}
			if strings.Contains(ie.Reason, "statusCode") || strings.Contains(ie.Reason, tt.payload) && tt.payload != "" {
				t.Errorf("Reason %q leaks detail", ie.Reason)
			}
		})
	}
}

func TestWriteResponseDropsHopByHopAndInvalidHeaders(t *testing.T) {
	long := strings.Repeat("v", MaxResponseHeaderValueBytes+1)
	payload, _ := json.Marshal(map[string]any{
		"statusCode": 200,
		"headers": map[string]any{
			"connection":        "close, x-drop-me",
			"x-drop-me":         "1",
			"keep-alive":        "timeout=5",
			"transfer-encoding": "chunked",
			"upgrade":           "websocket",
			"te":                "trailers",
			"trailer":           "x-t",
			"proxy-connection":  "keep-alive",
			"content-length":    "999",
			"bad header":        "space in name",
			"x-crlf":            "a\r\nx-injected: 1",
			"x-nul":             "a\x00b",
			"x-long":            long,
			"x-object":          map[string]any{"a": 1},
			"x-request-id":      "from-the-function",
			"x-kept":            "yes",
			"content-type":      "text/plain",
		},
		"cookies": []string{"ok=1", "bad=1\r\nx-injected: 1"},
		"body":    "hello",
	})
	rec := httptest.NewRecorder()
	rec.Header().Set("X-Request-Id", "gh-1") // set by the gateway before the target runs
	if _, err := WriteResponse(rec, payload); err != nil {
		t.Fatal(err)
	}
	want := http.Header{
		"X-Request-Id":   {"gh-1"},
		"X-Kept":         {"yes"},
		"Content-Type":   {"text/plain"},
		"Content-Length": {"5"},
		"Set-Cookie":     {"ok=1"},
	}
	if diff := cmp.Diff(want, rec.Header()); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestWriteResponseLabelsUnlabelledBodies(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		b64        bool
		want       string
	}{
		{"json", `{"a":1}`, false, "application/json"},
		{"html stays text", `<script>alert(1)</script>`, false, "text/plain; charset=utf-8"},
		{"binary", base64.StdEncoding.EncodeToString([]byte{0xff, 0}), true, "application/octet-stream"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			payload, _ := json.Marshal(map[string]any{"statusCode": 200, "body": tt.body, "isBase64Encoded": tt.b64})
			rec := httptest.NewRecorder()
			if _, err := WriteResponse(rec, payload); err != nil {
				t.Fatal(err)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.want {
				t.Errorf("Content-Type = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteResponseNoBodyStatuses(t *testing.T) {
	for _, status := range []int{204, 304} {
		rec := httptest.NewRecorder()
		payload, _ := json.Marshal(map[string]any{"statusCode": status, "body": "ignored"})
		got, err := WriteResponse(rec, payload)
		if err != nil || got != status || rec.Code != status || rec.Body.Len() != 0 {
			t.Errorf("WriteResponse(%d) = %d, %v; written %d with %d body bytes", status, got, err, rec.Code, rec.Body.Len())
		}
	}
}

func TestWriteResponseReportsWriteFailures(t *testing.T) {
	w := &failingWriter{ResponseRecorder: httptest.NewRecorder()}
	status, err := WriteResponse(w, []byte(`{"statusCode":200,"body":"x"}`))
	var ie *Error
	if status != 200 || err == nil || errors.As(err, &ie) {
		t.Errorf("WriteResponse = %d, %v; want 200 and a plain write error", status, err)
	}
}

type failingWriter struct{ *httptest.ResponseRecorder }

func (*failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
