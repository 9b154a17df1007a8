package lambdaauth_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/devkit/runtime"
)

// BenchmarkColdStart times the first invocation of a new execution
// environment of examples/functions/protected under devkit/runtime: process
// start, init (configuration, policy, Guard) and the invocation itself
// (verify, decide, AssumeRole and GetCallerIdentity at the local STS), with
// the issuer's keys from an embedded snapshot or fetched at init. The IdP
// is local; idp_rtt adds a delay to each of its discovery and key answers
// as a stand-in for the network distance to a real one. Run with
//
//	go test ./lambdaauth -run '^$' -bench ColdStart -benchtime 20x
func BenchmarkColdStart(b *testing.B) {
	buildBinaries(b)
	for _, rtt := range []time.Duration{0, 50 * time.Millisecond} {
		for _, withSnapshot := range []bool{false, true} {
			name := "keys=fetched"
			if withSnapshot {
				name = "keys=snapshot"
			}
			b.Run("idp_rtt="+rtt.String()+"/"+name, func(b *testing.B) {
				lc := newLocalCloud(b)
				env := map[string]string{}
				if withSnapshot {
					snap, err := authn.FetchSnapshot(b.Context(), authn.IssuerConfig{
						Issuer: lc.idp.Issuer(tenantID), DiscoveryURL: lc.idp.Issuer(tenantID) + "/.well-known/openid-configuration",
					}, lc.client, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					env["GATEHOUSE_JWKS_SNAPSHOT"] = lc.writeFile("jwks.json", string(snap))
				}
				fn := lc.protectedFunction(env)
				payload, _ := json.Marshal(eventShapes[0].event("Bearer " + lc.token("alice")))
				lc.idpDelay = rtt
				var first, warm time.Duration
				n := 0
				for b.Loop() {
					n++
					host, err := runtime.New(runtime.Config{
						Functions: []runtime.Function{fn}, Region: region, AccountID: account, StateDir: b.TempDir(),
						Credentials: func(ctx context.Context, roleARN, session string) (aws.Credentials, error) {
							return lc.assume(ctx, "fn-protected", session)
						},
						Logger: slog.New(slog.DiscardHandler),
					})
					if err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					res, err := host.Invoke(b.Context(), "protected", payload, runtime.InvokeOptions{})
					first += time.Since(start)
					if err != nil || res.FunctionError != "" {
						b.Fatalf("first invocation: %v %s", err, res.Payload)
					}
					start = time.Now()
					if _, err := host.Invoke(b.Context(), "protected", payload, runtime.InvokeOptions{}); err != nil {
						b.Fatal(err)
					}
					warm += time.Since(start)
					host.Close()
				}
				b.ReportMetric(float64(first.Microseconds())/float64(n)/1000, "first-ms/op")
				b.ReportMetric(float64(warm.Microseconds())/float64(n)/1000, "warm-ms/op")
			})
		}
	}
}
