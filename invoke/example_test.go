package invoke_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gatehouse-dev/gatehouse/invoke"
)

// A function behind gatehouse reads the identity from the envelope, where
// groups are a real list, rather than from the claims, where API Gateway's
// JWT authorizer has flattened them to a string.
func ExampleReadEnvelope() {
	handler := func(ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		env, err := invoke.ReadEnvelope(&ev)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: 403}, nil
		}
		fmt.Printf("claims: groups=%q\n", ev.RequestContext.Authorizer.JWT.Claims["groups"])
		fmt.Printf("envelope: principal=%s groups=%q role=%s\n", env.Principal, env.Groups, env.Role)
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "ok"}, nil
	}

	// What gatehouse sends (abridged).
	ev := events.APIGatewayV2HTTPRequest{RequestContext: events.APIGatewayV2HTTPRequestContext{
		Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
				Claims: map[string]string{"groups": invoke.FlattenClaim([]any{"g1", "g2"})},
			},
			Lambda: map[string]any{"gatehouse": map[string]any{
				"version": 1, "principal": "oid-1", "groups": []any{"g1", "g2"}, "role": "reports-reader",
			}},
		},
	}}
	handler(ev)
	// Output:
	// claims: groups="[g1 g2]"
	// envelope: principal=oid-1 groups=["g1" "g2"] role=reports-reader
}

// A function's return value becomes the HTTP response: a structured
// response, or any other JSON value as a 200 application/json body.
func ExampleWriteResponse() {
	for _, payload := range []string{
		`{"statusCode":201,"headers":{"content-type":"text/plain"},"cookies":["a=1","b=2"],"body":"created"}`,
		`{"message":"hi"}`,
	} {
		rec := httptest.NewRecorder()
		status, err := invoke.WriteResponse(rec, []byte(payload))
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(status, rec.Header().Get("Content-Type"), rec.Header().Values("Set-Cookie"), rec.Body)
	}
	// Output:
	// 201 text/plain [a=1 b=2] created
	// 200 application/json [] {"message":"hi"}
}
