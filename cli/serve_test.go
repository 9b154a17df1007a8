package cli

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
)

// TestServeListenFlags: --gateway-listen and --admin-listen replace the
// file's addresses and are held to its rules, with the flag named in the
// problem; the file's own problem with a replaced address is gone.
func TestServeListenFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gh")
	if out, errOut, code := runCLI(t, "", "init", "--issuer", "https://127.0.0.1:1", "--audience", "api://x", "--dir", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	b, _ := os.ReadFile(path)
	text := strings.Replace(string(b), "listen: 127.0.0.1:8480", "listen: 0.0.0.0:8480", 1)
	if text == string(b) {
		t.Fatal("init wrote no gateway.listen: 127.0.0.1:8480")
	}
	os.WriteFile(path, []byte(text), 0o600)
	check := []string{"serve", "--check", "--config", path}
	for _, tt := range []struct {
		flags []string
		code  int
		want  string // in stdout, or stderr when code is 1
		not   string
	}{
		{nil, 1, path + ":", ""},
		{[]string{"--gateway-listen", "127.0.0.1:0"}, 0, "on 127.0.0.1:0\n", ""},
		{[]string{"--gateway-listen", "127.0.0.1:0", "--admin-listen", "off"}, 0, "ok: ", ""},
		{[]string{"--gateway-listen", "0.0.0.0:9"}, 1, `--gateway-listen: "0.0.0.0:9": without tls_cert_file and tls_key_file, serve listens only on a loopback address`, "gateway.listen:"},
		{[]string{"--gateway-listen", "127.0.0.1:0", "--admin-listen", "bogus"}, 1, `--admin-listen: "bogus": want host:port`, "gateway.listen"},
		{[]string{"--admin-listen", "127.0.0.1:0"}, 1, "gateway.listen: \"0.0.0.0:8480\"", "--admin-listen"},
	} {
		out, errOut, code := runCLI(t, "", append(check, tt.flags...)...)
		got := out
		if tt.code != 0 {
			got = errOut
		}
		if code != tt.code || !strings.Contains(got, tt.want) || tt.not != "" && strings.Contains(errOut, tt.not) {
			t.Errorf("serve --check %v: exit %d\n%s%s\nwant exit %d with %q", tt.flags, code, out, errOut, tt.code, tt.want)
		}
	}
}

// TestServeReloadKeepsListenFlags: a reload reads the file with the
// command line's addresses, so a file whose own address serve would
// refuse still reloads under --gateway-listen.
func TestServeReloadKeepsListenFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gh")
	if out, errOut, code := runCLI(t, "", "init", "--issuer", "https://127.0.0.1:1", "--audience", "api://x", "--dir", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), "listen: 127.0.0.1:8480", "listen: 0.0.0.0:8480", 1)), 0o600)
	for _, tt := range []struct {
		o    serveOptions
		want string // the address the reload is applied with; "" for none
	}{
		{serveOptions{}, ""},
		{serveOptions{gatewayListen: "127.0.0.1:0"}, "127.0.0.1:0"},
		{serveOptions{gatewayListen: "0.0.0.0:1"}, ""},
	} {
		var got string
		rl := &reloader{path: path, where: config.WhereServe, log: slog.New(slog.DiscardHandler), override: tt.o.override,
			apply: func(_ context.Context, f *config.File) error { got = f.Gateway.Listen; return nil }}
		rl.reload(context.Background(), "test")
		if got != tt.want {
			t.Errorf("reload with %+v: applied with listen %q, want %q", tt.o, got, tt.want)
		}
	}
}

func TestLocalURL(t *testing.T) {
	for _, tt := range []struct {
		addr string
		tls  bool
		want string
	}{
		{"127.0.0.1:8480", false, "http://127.0.0.1:8480"},
		{"[::]:8443", true, "https://127.0.0.1:8443"},
		{"0.0.0.0:9", false, "http://127.0.0.1:9"},
		{"[::1]:7", false, "http://[::1]:7"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := localURL(a, tt.tls); got != tt.want {
			t.Errorf("localURL(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
