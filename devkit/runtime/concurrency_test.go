package runtime

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

type span struct{ Start, End, PID int64 }

// sleepSpans runs n "sleep" invocations in parallel and returns when each
// ran, by the function's own clock.
func sleepSpans(t *testing.T, h *Host, name string, n, ms int) []span {
	t.Helper()
	spans := make([]span, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := invokeErr(t, h, name, map[string]any{"action": "sleep", "ms": ms}, InvokeOptions{})
			if err != nil || res.FunctionError != "" {
				t.Errorf("invocation %d: %v %s", i, err, res.Payload)
				return
			}
			if err := json.Unmarshal(res.Payload, &spans[i]); err != nil {
				t.Errorf("invocation %d answer %s: %v", i, res.Payload, err)
			}
		})
	}
	wg.Wait()
	slices.SortFunc(spans, func(a, b span) int { return int(a.Start - b.Start) })
	return spans
}

// TestConcurrencyOneSerialises: with Concurrency 1, parallel calls queue
// and run one after another on one instance.
func TestConcurrencyOneSerialises(t *testing.T) {
	t.Parallel()
	h, _ := newHost(t, Config{Functions: []Function{{Name: "one", Executable: bin.testfn, Concurrency: 1}}})
	spans := sleepSpans(t, h, "one", 4, 50)
	for i := 1; i < len(spans); i++ {
		if spans[i].Start < spans[i-1].End {
			t.Errorf("invocations overlap: %+v then %+v", spans[i-1], spans[i])
		}
		if spans[i].PID != spans[0].PID {
			t.Errorf("more than one instance: pids %d and %d", spans[0].PID, spans[i].PID)
		}
	}
}

// TestConcurrencyStartsInstances: up to Concurrency instances run at once.
func TestConcurrencyStartsInstances(t *testing.T) {
	t.Parallel()
	h, _ := newHost(t, Config{Functions: []Function{{Name: "two", Executable: bin.testfn, Concurrency: 2}}})
	spans := sleepSpans(t, h, "two", 2, 300)
	if spans[1].Start >= spans[0].End || spans[0].PID == spans[1].PID {
		t.Errorf("two calls with Concurrency 2 did not run at once on two instances: %+v", spans)
	}
}

// TestThrottling: beyond Concurrency and the queue, or after waiting
// QueueTimeout, a call is answered TooManyRequestsException (429).
func TestThrottling(t *testing.T) {
	t.Parallel()
	a := newAWSFixture(t)
	lf := newLambdaFixture(t, a, Config{Functions: []Function{
		{Name: "noqueue", Executable: bin.testfn, Concurrency: 1, QueueSize: -1},
		{Name: "shortqueue", Executable: bin.testfn, Concurrency: 1, QueueSize: 1, QueueTimeout: 100 * time.Millisecond},
	}})
	c := lf.client(static(a.mustAssume(t, "invoker", "ada", "")))

	// hold keeps the function's one instance busy until release is called.
	hold := func(name string) (release func()) {
		id := "hold-" + name
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = invokeErr(t, lf.host, name, map[string]any{"action": "sleep", "ms": 1500}, InvokeOptions{RequestID: id})
		}()
		lf.logs.wait(t, "of the holding invocation", output(id, "sleeping"))
		return func() { <-done }
	}

	for _, name := range []string{"noqueue", "shortqueue"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			release := hold(name)
			defer release()
			if name == "shortqueue" {
				// One caller may wait; it gives up after QueueTimeout.
				start := time.Now()
				_, err := invokeErr(t, lf.host, name, map[string]string{}, InvokeOptions{})
				if !isCode(err, CodeTooManyRequests) || time.Since(start) < 100*time.Millisecond {
					t.Errorf("queued call = %v after %v, want TooManyRequestsException after 100ms", err, time.Since(start))
				}
			}
			_, err := c.Invoke(testContext(t), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)})
			wantAPIError(t, err, "TooManyRequestsException", 429)
			var tmr *types.TooManyRequestsException
			if !errors.As(err, &tmr) || aws.ToString(tmr.RetryAfterSeconds) != "1" || tmr.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
				t.Errorf("error %v, want a typed TooManyRequestsException with its reason", err)
			}
		})
	}
}
