package runtime

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestNewRefusesConfig: every problem is reported, naming the field.
func TestNewRefusesConfig(t *testing.T) {
	t.Parallel()
	creds := func(context.Context, string, string) (aws.Credentials, error) { return aws.Credentials{}, nil }
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"bad region and account", Config{Region: "mars", AccountID: "42"}, []string{"Region: \"mars\"", "AccountID: \"42\""}},
		{"bad name", Config{Functions: []Function{{Name: "a/b", Executable: "x"}}}, []string{"Functions[0].Name"}},
		{"duplicate name", Config{Functions: []Function{{Name: "a", Executable: "x"}, {Name: "a", Executable: "x"}}}, []string{"Functions[1].Name: function \"a\" is configured twice"}},
		{"neither executable nor package", Config{Functions: []Function{{Name: "a"}}}, []string{"Functions[0]: want exactly one of Executable and Package"}},
		{"both", Config{StateDir: "s", Functions: []Function{{Name: "a", Executable: "x", Package: "p"}}}, []string{"want exactly one"}},
		{"package without state dir", Config{Functions: []Function{{Name: "a", Package: "p"}}}, []string{"Functions[0].Package: building a package needs Config.StateDir"}},
		{"reserved env", Config{Functions: []Function{{Name: "a", Executable: "x", Env: map[string]string{"AWS_SECRET_ACCESS_KEY": "x", "TZ": "x"}}}},
			[]string{"AWS_SECRET_ACCESS_KEY is set by the Lambda host", "TZ is set by the Lambda host"}},
		{"bad env key", Config{Functions: []Function{{Name: "a", Executable: "x", Env: map[string]string{"1X": "x", "A-B": "y"}}}}, []string{`"1X"`, `"A-B"`}},
		{"limits", Config{Functions: []Function{{Name: "a", Executable: "x", Timeout: 16 * time.Minute, MemoryMB: 64, Concurrency: -1, QueueTimeout: -time.Second}}},
			[]string{"Timeout", "MemoryMB", "Concurrency", "QueueTimeout"}},
		{"bad role", Config{Credentials: creds, Functions: []Function{{Name: "a", Executable: "x", ExecutionRole: "reader"}}}, []string{"ExecutionRole: \"reader\" is not an IAM role ARN"}},
		{"role without credentials", Config{Functions: []Function{{Name: "a", Executable: "x", ExecutionRole: "arn:aws:iam::123456789012:role/r"}}},
			[]string{"needs Config.Credentials"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("New accepted the configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v\nwant it to mention %q", err, w)
				}
			}
		})
	}
}

// TestNewDefaults: zero values mean Lambda's defaults.
func TestNewDefaults(t *testing.T) {
	t.Parallel()
	h, err := New(Config{Functions: []Function{{Name: "a", Executable: "x"}, {Name: "b", Executable: "x", QueueSize: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a := h.funcs["a"]
	if a.cfg.Timeout != 3*time.Second || a.cfg.MemoryMB != 128 || a.cfg.Concurrency != 4 || a.cfg.queueSize != 64 ||
		a.cfg.QueueTimeout != 10*time.Second || a.cfg.Handler != "bootstrap" || a.arn != "arn:aws:lambda:us-east-1:000000000000:function:a" {
		t.Errorf("defaults = %+v, arn %s", a.cfg, a.arn)
	}
	if h.funcs["b"].cfg.queueSize != 0 {
		t.Errorf("QueueSize -1 gave a queue of %d", h.funcs["b"].cfg.queueSize)
	}
}

// TestClosedHost: after Close, invocations are refused and Close is
// idempotent.
func TestClosedHost(t *testing.T) {
	t.Parallel()
	h, _ := newHost(t, Config{Functions: []Function{{Name: "fn", Executable: bin.testfn}}})
	invoke(t, h, "fn", map[string]string{}, InvokeOptions{})
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := invokeErr(t, h, "fn", map[string]string{}, InvokeOptions{}); !isCode(err, CodeService) {
		t.Errorf("Invoke after Close = %v, want %s", err, CodeService)
	}
	if err := h.Start(context.Background()); !isCode(err, CodeService) {
		t.Errorf("Start after Close = %v", err)
	}
	f := h.funcs["fn"]
	f.mu.Lock()
	live := f.live
	f.mu.Unlock()
	if live != 0 {
		t.Errorf("%d instances alive after Close", live)
	}
}
