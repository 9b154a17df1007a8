// Command testfn is a Lambda function for the runtime package's tests,
// built with aws-lambda-go. The event's "action" says what it does.
// TESTFN_INIT=exit makes it fail before lambda.Start.
package main

import (
	"context"
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
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	lc, _ := lambdacontext.FromContext(ctx)
	switch ev.Action {
	case "echo", "":
		return raw, nil
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
