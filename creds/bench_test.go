package creds

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkCacheHit is what a request pays when its session is cached:
// tags, key, one locked map lookup and LRU move, the freshness check.
// Target: under 1 µs.
func BenchmarkCacheHit(b *testing.B) {
	e := newSTSEnv(b)
	br := e.broker(b, func(c *Config) { c.Now = time.Now }) // the env's clock is the real one, unmoved
	req := Request{Principal: agentPrincipal(), Role: "reader",
		SessionPolicy: InvokePolicy("arn:aws:lambda:us-east-1:" + account + ":function:reports-daily")}
	first, err := br.Credentials(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := br.Credentials(ctx, req)
		if err != nil || s != first {
			b.Fatal("miss")
		}
	}
}

// BenchmarkCacheHitParallel is the same hit from every core at once, over
// 1,000 cached principals.
func BenchmarkCacheHitParallel(b *testing.B) {
	e := newSTSEnv(b)
	br := e.broker(b, func(c *Config) { c.Now = time.Now })
	reqs := make([]Request, 1000)
	for i := range reqs {
		p := agentPrincipal()
		p.Subject = fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", i)
		reqs[i] = Request{Principal: p, Role: "reader"}
		if _, err := br.Credentials(context.Background(), reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	calls := e.count("AssumeRoleWithWebIdentity")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := 0
		for pb.Next() {
			if _, err := br.Credentials(ctx, reqs[i%len(reqs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	if got := e.count("AssumeRoleWithWebIdentity"); got != calls {
		b.Fatalf("%d STS calls during the hits", got-calls)
	}
}

// BenchmarkBrokeredRoundTrip is a cache miss in broker mode: mint the token
// (RS256 sign), then AssumeRoleWithWebIdentity through the AWS SDK to the
// local STS over loopback TLS, which verifies the token (JWKS already
// fetched), evaluates the trust policy and issues the session.
func BenchmarkBrokeredRoundTrip(b *testing.B) {
	e := newSTSEnv(b)
	br := e.broker(b, func(c *Config) { c.CacheEntries = -1 })
	req := Request{Principal: agentPrincipal(), Role: "reader",
		SessionPolicy: InvokePolicy("arn:aws:lambda:us-east-1:" + account + ":function:reports-daily")}
	ctx := context.Background()
	if _, err := br.Credentials(ctx, req); err != nil { // warm: STS fetches the issuer's keys
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Credentials(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
