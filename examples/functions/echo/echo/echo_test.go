package echo

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestHandle(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		b64        bool
		wantStatus int
		wantBody   string
	}{
		{"message", `{"message":"hello"}`, false, 200, `{"message":"HELLO","length":5}`},
		{"characters, not bytes", `{"message":"größe"}`, false, 200, `{"message":"GRÖßE","length":5}`},
		{"base64 body", base64.StdEncoding.EncodeToString([]byte(`{"message":"b"}`)), true, 200, `{"message":"B","length":1}`},
		{"empty message", `{"message":""}`, false, 200, `{"message":"","length":0}`},
		{"no body", ``, false, 400, `{"error":"want a JSON body {\"message\": \"...\"}"}`},
		{"no message", `{}`, false, 400, `{"error":"the body has no \"message\""}`},
		{"unknown member", `{"message":"a","x":1}`, false, 400, `{"error":"want a JSON body {\"message\": \"...\"}"}`},
		{"not a string", `{"message":1}`, false, 400, `{"error":"want a JSON body {\"message\": \"...\"}"}`},
		{"trailing data", `{"message":"a"} {}`, false, 400, `{"error":"unexpected data after the JSON body"}`},
		{"bad base64", `!!`, true, 400, `{"error":"the body is not valid base64"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := handle(context.Background(), events.APIGatewayV2HTTPRequest{Body: tc.body, IsBase64Encoded: tc.b64})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus || resp.Body != tc.wantBody || resp.Headers["content-type"] != "application/json" {
				t.Errorf("handle = %d %s %v, want %d %s", resp.StatusCode, resp.Body, resp.Headers, tc.wantStatus, tc.wantBody)
			}
		})
	}
}
