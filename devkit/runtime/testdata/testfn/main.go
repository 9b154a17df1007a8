// Command testfn is a Lambda function for the runtime package's tests,
// built with aws-lambda-go. The event's "action" says what it does; for a
// function URL event, the action is in its body (JSON, base64 or not), and
// "echo" answers the whole event. TESTFN_INIT=exit makes it fail before
// lambda.Start.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string `json:"action"`
	Ms     int    `json:"ms"`
	Lines  int    `json:"lines"`
	Text   string `json:"text"`
	Size   int    `json:"size"`
	// Response is what "respond" answers, as it is.
	Response json.RawMessage `json:"response"`
}

func main() {
	if os.Getenv("TESTFN_INIT") == "exit" {
		fmt.Println("testfn: init failing on purpose")
		os.Exit(3)
	}
	fmt.Println("testfn: init done")
	lambda.Start(handle)
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	whole := raw
	if body, ok := functionURLBody(raw); ok {
		raw = body
	}
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	lc, _ := lambdacontext.FromContext(ctx)
	switch ev.Action {
	case "echo", "":
		return whole, nil
	case "respond":
		return ev.Response, nil
	case "sleep":
		start := time.Now()
		fmt.Printf("testfn: sleeping %d ms in %s\n", ev.Ms, lc.AwsRequestID)
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
		return map[string]int64{"start": start.UnixNano(), "end": time.Now().UnixNano(), "pid": int64(os.Getpid())}, nil
	case "crash":
		fmt.Println("testfn: crashing on purpose")
		os.Exit(2)
	case "error":
		return nil, errors.New("boom")
	case "panic":
		panic("kaboom")
	case "log":
		for i := range ev.Lines {
			fmt.Printf("testfn: line %d %s\n", i, ev.Text)
		}
		return map[string]string{"logged": "yes"}, nil
	case "env":
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		return env, nil
	case "context":
		deadline, _ := ctx.Deadline()
		return map[string]any{
			"requestId":     lc.AwsRequestID,
			"functionArn":   lc.InvokedFunctionArn,
			"clientContext": lc.ClientContext.Custom,
			"traceId":       ctx.Value("x-amzn-trace-id"),
			"deadlineMs":    deadline.UnixMilli(),
			"functionName":  lambdacontext.FunctionName,
			"memory":        lambdacontext.MemoryLimitInMB,
			"version":       lambdacontext.FunctionVersion,
			"logGroup":      lambdacontext.LogGroupName,
			"pid":           os.Getpid(),
		}, nil
	case "big":
		return strings.Repeat("x", ev.Size), nil
	}
	return nil, fmt.Errorf("unknown action %q", ev.Action)
}

// functionURLBody is the body of a function URL event ("{}" when it has
// none); false for any other event.
func functionURLBody(raw json.RawMessage) (json.RawMessage, bool) {
	var ev struct {
		RequestContext struct {
			DomainName string `json:"domainName"`
		} `json:"requestContext"`
		Body            string `json:"body"`
		IsBase64Encoded bool   `json:"isBase64Encoded"`
	}
	if json.Unmarshal(raw, &ev) != nil || !strings.Contains(ev.RequestContext.DomainName, ".lambda-url.") {
		return nil, false
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, false
		}
	}
	if len(body) == 0 || !json.Valid(body) {
		body = []byte("{}")
	}
	return body, true
}
