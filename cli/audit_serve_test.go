package cli

import (
	"strings"
	"testing"
)

// TestAuditServeLoopbackOnly: the auditor's view has no sign-in, so it
// listens on loopback only, and says how to reach it from elsewhere.
func TestAuditServeLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:9449": true, "127.0.0.1:0": true, "[::1]:9449": true, "localhost:9449": true, "127.8.9.10:80": true,
		"0.0.0.0:9449": false, ":9449": false, "[::]:9449": false, "10.0.0.5:9449": false, "gateway.example:9449": false,
		"127.0.0.1": false, "": false,
	} {
		err := checkLoopbackListen(addr)
		if ok != (err == nil) {
			t.Errorf("--listen %q: %v", addr, err)
		}
		if err != nil && !strings.Contains(err.Error(), "loopback") || err != nil && !strings.Contains(err.Error(), "ssh -L") {
			t.Errorf("--listen %q: the refusal does not say why and what to do: %v", addr, err)
		}
	}
}
