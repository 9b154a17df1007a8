package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/devkit/devca"
)

// TestDevAuthorityFor: the "dev" authority resolves through the endpoints
// file a running `gatehouse dev` writes to its state directory; a
// configuration that does not use it never reads the directory.
func TestDevAuthorityFor(t *testing.T) {
	// A state directory as `gatehouse dev` leaves it: its local CA and
	// endpoints.json.
	running := t.TempDir()
	if _, err := devca.LoadOrCreate(running); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(running, devca.CertFile)
	writeEndpoints := func(dir string, ep endpoints) string {
		if err := writeJSONFile(filepath.Join(dir, endpointsFile), ep); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	writeEndpoints(running, endpoints{IDP: devIDPBaseURL, Tenant: devTenantID, Issuer: devIDPIssuer, CAFile: caFile})
	noCA := writeEndpoints(t.TempDir(), endpoints{IDP: "http://127.0.0.1:9443", Tenant: devTenantID})
	lostCA := writeEndpoints(t.TempDir(), endpoints{IDP: devIDPBaseURL, CAFile: filepath.Join(t.TempDir(), "gone.pem")})
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, endpointsFile), []byte("{"), 0o600)
	empty := t.TempDir()
	wantPool, err := config.LoadCAPool(caFile, false)
	if err != nil {
		t.Fatal(err)
	}

	notDev := config.Default()
	notDev.AuthN.Issuers[0].Entra.Authority = config.AuthorityMicrosoft
	inConfig := config.Default()
	inConfig.Dev.StateDir = running

	tests := []struct {
		name     string
		f        *config.File
		stateDir string
		wantURL  string // "" means nil
		wantCA   bool
		wantErr  string
		wantIs   error
	}{
		{name: "running dev loop", f: config.Default(), stateDir: running, wantURL: devIDPBaseURL, wantCA: true},
		{name: "state directory from the configuration", f: inConfig, wantURL: devIDPBaseURL, wantCA: true},
		{name: "IdP without TLS", f: config.Default(), stateDir: noCA, wantURL: "http://127.0.0.1:9443"},
		{name: "no dev issuer: nothing read", f: notDev, stateDir: empty},
		{name: "nothing running", f: config.Default(), stateDir: empty, wantErr: "no running 'gatehouse dev' found in state directory " + empty},
		{name: "CA file gone", f: config.Default(), stateDir: lostCA, wantIs: fs.ErrNotExist},
		{name: "endpoints file broken", f: config.Default(), stateDir: broken, wantErr: endpointsFile + ":"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := devAuthorityFor(tt.f, tt.stateDir)
			switch {
			case tt.wantErr != "" || tt.wantIs != nil:
				if err == nil || tt.wantIs != nil && !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("devAuthorityFor = %+v, %v; want an error %q %v", dev, err, tt.wantErr, tt.wantIs)
				}
				return
			case err != nil:
				t.Fatalf("devAuthorityFor = %v", err)
			case tt.wantURL == "":
				if dev != nil {
					t.Fatalf("devAuthorityFor = %+v, want nil", dev)
				}
				return
			case dev == nil:
				t.Fatalf("devAuthorityFor = nil, want %s", tt.wantURL)
			}
			if dev.BaseURL != tt.wantURL {
				t.Errorf("BaseURL = %q, want %q", dev.BaseURL, tt.wantURL)
			}
			if got := dev.CAPool != nil && dev.CAPool.Equal(wantPool); got != tt.wantCA {
				t.Errorf("CAPool is the local CA: %v, want %v", got, tt.wantCA)
			}
		})
	}
}
