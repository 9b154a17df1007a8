package runtime_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/devkit/runtime"
	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// Example wires the host as `gatehouse dev` does: the local STS checks the
// Invoke API's signatures, execution-role credentials come from that STS,
// and the function reaches it through AWS_ENDPOINT_URL_STS, trusting the
// development CA through AWS_CA_BUNDLE.
func Example() {
	stsServer, err := sts.New(sts.Config{AccountID: "123456789012"}) // providers and roles elided
	if err != nil {
		log.Fatal(err)
	}
	host, err := runtime.New(runtime.Config{
		AccountID: "123456789012",
		StateDir:  "state", // the executables go to state/bin
		STS:       stsServer,
		Credentials: func(ctx context.Context, roleARN, sessionName string) (aws.Credentials, error) {
			// AssumeRoleWithWebIdentity at the local STS, with a token of
			// gatehouse's own issuer for the role.
			return aws.Credentials{}, fmt.Errorf("not wired in this example")
		},
		Functions: []runtime.Function{{
			Name:          "whoami",
			Package:       "examples/functions/whoami",
			ExecutionRole: "arn:aws:iam::123456789012:role/gatehouse-fn-whoami",
			Timeout:       10 * time.Second,
			Env: map[string]string{
				"AWS_ENDPOINT_URL_STS": "https://127.0.0.1:9444",
				"AWS_CA_BUNDLE":        "state/ca.pem",
			},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	if err := host.Start(context.Background()); err != nil { // go build
		log.Print(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:9445", Handler: host.Handler(), ReadHeaderTimeout: 10 * time.Second}
	_ = srv // srv.ListenAndServe(); the AWS SDK's BaseEndpoint is http://127.0.0.1:9445
}

// ExampleNew shows that every configuration problem is reported at once.
func ExampleNew() {
	_, err := runtime.New(runtime.Config{Functions: []runtime.Function{
		{Name: "report", Package: "reports", Env: map[string]string{"AWS_REGION": "eu-west-1"}},
		{Name: "report", Executable: "bootstrap", Timeout: time.Hour},
	}})
	fmt.Println(err)
	// Output:
	// runtime: invalid configuration:
	// Functions[0].Package: building a package needs Config.StateDir
	// Functions[0].Env: AWS_REGION is set by the Lambda host
	// Functions[1].Name: function "report" is configured twice
	// Functions[1].Timeout: 1h0m0s: want 1ms to 15m
}
