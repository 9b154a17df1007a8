// Package echo is the example function echo: Main runs it under the Lambda
// Runtime API. The command in the directory above builds it as an
// executable; `gatehouse dev` runs it from its own binary. See the
// command's documentation for what it does.
package echo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// Main runs the function: it serves invocations until the Lambda host
// stops it.
func Main() {
	lambda.Start(handle)
}

type request struct {
	Message *string `json:"message"`
}

type response struct {
	Message string `json:"message"`
	Length  int    `json:"length"`
}

func handle(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	msg, err := message(req)
	if err != nil {
		return reply(400, map[string]string{"error": err.Error()})
	}
	n := utf8.RuneCountInString(msg)
	log.Printf("echo: %d characters", n)
	return reply(200, response{Message: strings.ToUpper(msg), Length: n})
}

// message reads the body's message.
func message(req events.APIGatewayV2HTTPRequest) (string, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return "", errors.New("the body is not valid base64")
		}
		body = b
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in request
	if err := dec.Decode(&in); err != nil {
		return "", errors.New(`want a JSON body {"message": "..."}`)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("unexpected data after the JSON body")
	}
	if in.Message == nil {
		return "", errors.New(`the body has no "message"`)
	}
	if !utf8.ValidString(*in.Message) {
		return "", errors.New("the message is not valid UTF-8")
	}
	return *in.Message, nil
}

func reply(status int, v any) (events.APIGatewayV2HTTPResponse, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(body),
	}, nil
}
