package devca

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateReusesTheCA(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %04o, want 0600", KeyFile, fi.Mode().Perm())
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil || string(onDisk) != string(ca.CertPEM()) {
		t.Errorf("%s differs from CertPEM (%v)", CertFile, err)
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.CertPEM()) != string(ca.CertPEM()) {
		t.Error("second LoadOrCreate made a new CA")
	}
}

func TestLoadOrCreateRefusesUnsafeOrBrokenFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		breakIt func(dir string) error
		want    string
	}{
		{"key readable by others", func(dir string) error { return os.Chmod(filepath.Join(dir, KeyFile), 0o644) }, "chmod 600"},
		{"key missing", func(dir string) error { return os.Remove(filepath.Join(dir, KeyFile)) }, KeyFile},
		{"key of another CA", func(dir string) error {
			other := filepath.Join(dir, "other")
			if _, err := LoadOrCreate(other); err != nil {
				return err
			}
			return os.Rename(filepath.Join(other, KeyFile), filepath.Join(dir, KeyFile))
		}, "does not hold the key"},
		{"certificate not PEM", func(dir string) error { return os.WriteFile(filepath.Join(dir, CertFile), []byte("x"), 0o644) }, "not a PEM CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreate(dir); err != nil {
				t.Fatal(err)
			}
			if err := tt.breakIt(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadOrCreate error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// A real HTTPS server with the CA's leaf certificate, reached by IP and by
// name through a client that trusts only the CA.
func TestServerTLSConfigServesHTTPS(t *testing.T) {
	t.Parallel()
	ca, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ca.ServerTLSConfig("127.0.0.1", "localhost", "::1")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	ts.TLS = cfg
	ts.StartTLS()
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CertPool()}}}
	port := ts.URL[strings.LastIndexByte(ts.URL, ':'):]
	for _, u := range []string{"https://127.0.0.1" + port, "https://localhost" + port} {
		resp, err := client.Get(u)
		if err != nil {
			t.Errorf("GET %s: %v", u, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Errorf("GET %s: %q", u, b)
		}
	}
	// The leaf names exactly the hosts and is for servers only.
	leaf := cfg.Certificates[0].Leaf
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.CertPool(), DNSName: "example.com"}); err == nil {
		t.Error("leaf verifies for a host it was not made for")
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("leaf ExtKeyUsage %v", leaf.ExtKeyUsage)
	}
	// A client trusting the system roots only does not accept it.
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	if _, err := plain.Get("https://127.0.0.1" + port); err == nil {
		t.Error("a client without the CA accepted the certificate")
	}
	if _, err := ca.ServerTLSConfig(); err == nil {
		t.Error("ServerTLSConfig() with no hosts succeeded")
	}
}
