package invoke

import (
	"strings"
	"testing"
)

func TestCheckPassHeader(t *testing.T) {
	refused := append([]string{
		"Authorization", "X-Forwarded-User", "x_forwarded_for", "X-Gatehouse-Subject", "X-Real-Ip",
		"Forwarded", "X-Amzn-Oidc-Identity", "Remote-User", "X-Ms-Client-Principal-Name",
		"X-Http-Method-Override", "X-Original-Url",
		// Hop-by-hop headers are the gateway's to handle.
		"Connection", "Upgrade", "Transfer-Encoding", "Te", "Http2-Settings", "Host",
		// Prefixes that take in a denied name.
		"X-*", "X-Forw*", "Remote*", "X-Gate*",
		// Not header names.
		"", "*", "X Custom", "X-Custom:", "Bad\x00Name",
	}, probeFoundHeaders...)
	for _, name := range refused {
		if err := CheckPassHeader(name); err == nil {
			t.Errorf("CheckPassHeader(%q) = nil, want a refusal", name)
		}
	}
	for _, name := range []string{"X-Custom", "X-App-*", "X-Correlation-Id", "X-Api-Key", "Tenant-Hint"} {
		if err := CheckPassHeader(name); err != nil {
			t.Errorf("CheckPassHeader(%q) = %v, want nil", name, err)
		}
	}
}

func TestHeaderPolicyPasses(t *testing.T) {
	hp, err := NewHeaderPolicy([]string{"X-Custom", "X-App-*"})
	if err != nil {
		t.Fatal(err)
	}
	var zero HeaderPolicy
	for _, tt := range []struct {
		name          string
		zero, withExt bool
	}{
		{"Accept", true, true},
		{"accept-language", true, true},
		{"Content-Type", true, true},
		{"If-None-Match", true, true},
		{"Cookie", true, true},
		{"Traceparent", true, true},
		{"X-Amzn-Trace-Id", true, true},
		{"Sec-Websocket-Key", true, true},
		{"Sec-Fetch-Mode", true, true},
		{"X-Custom", false, true},
		{"x_custom", false, true},
		{"X-App-Tenant-Hint", false, true},
		{"X-Customer", false, false},
		{"X-Unknown", false, false},
		{"Authorization", false, false},
		{"X-Forwarded-For", false, false},
		{"X-Gatehouse", false, false},
		{"Content-" + strings.Repeat("a", 100), true, true}, // long names are checked too
		{"X-Gatehouse-" + strings.Repeat("a", 100), false, false},
	} {
		if got := zero.passes(tt.name); got != tt.zero {
			t.Errorf("zero policy passes(%q) = %v, want %v", tt.name, got, tt.zero)
		}
		if got := hp.passes(tt.name); got != tt.withExt {
			t.Errorf("policy with X-Custom, X-App-* passes(%q) = %v, want %v", tt.name, got, tt.withExt)
		}
	}
}

func TestNewHeaderPolicyListsEveryProblem(t *testing.T) {
	_, err := NewHeaderPolicy([]string{"X-Forwarded-Host", "X-Fine", "Remote-User"})
	if err == nil || !strings.Contains(err.Error(), "X-Forwarded-Host") || !strings.Contains(err.Error(), "Remote-User") {
		t.Errorf("NewHeaderPolicy = %v, want both refused names", err)
	}
}
