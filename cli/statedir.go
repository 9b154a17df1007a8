package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// defaultStateDir is where `gatehouse dev` keeps keys and data when neither
// --state-dir nor dev.state_dir says otherwise: $XDG_STATE_HOME/gatehouse,
// else ~/.local/state/gatehouse.
func defaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "gatehouse"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory: %w (use --state-dir)", err)
	}
	return filepath.Join(home, ".local", "state", "gatehouse"), nil
}

// resolveStateDir picks the flag, then the configuration, then the default.
func resolveStateDir(flag, configured string) (string, error) {
	d := flag
	if d == "" {
		d = configured
	}
	if d == "" {
		var err error
		if d, err = defaultStateDir(); err != nil {
			return "", err
		}
	}
	return filepath.Abs(d)
}

// endpoints is what a running `gatehouse dev` has started, written to the
// state directory (for `gatehouse token` and `verify`) and to --ready-file;
// `gatehouse serve --ready-file` writes its Gateway and Admin.
type endpoints struct {
	// Issuer is the v2.0 issuer of the first development tenant.
	Issuer string `json:"issuer,omitempty"`
	// IDP is the base URL of the development identity provider.
	IDP string `json:"idp,omitempty"`
	// Tenant is the first development tenant's id.
	Tenant string `json:"tenant,omitempty"`
	// CAFile is the PEM file of the local CA.
	CAFile string `json:"ca_file,omitempty"`
	// Gateway is the development gateway's URL.
	Gateway string `json:"gateway,omitempty"`
	// GatehouseIssuer is gatehouse's own OIDC issuer (broker mode).
	GatehouseIssuer string `json:"gatehouse_issuer,omitempty"`
	// STS is the local STS endpoint.
	STS string `json:"sts,omitempty"`
	// Lambda is the local Lambda host's endpoint.
	Lambda string `json:"lambda,omitempty"`
	// KeyVault is the local Azure Key Vault's URL.
	KeyVault string `json:"keyvault,omitempty"`
	// Upstream is the development HTTP upstream's URL.
	Upstream string `json:"upstream,omitempty"`
	// Admin is the admin listener's URL (/metrics, /healthz, /readyz).
	Admin string `json:"admin,omitempty"`
	// AuditView is the auditor's view, on the admin listener under dev.
	AuditView string `json:"audit_view,omitempty"`
}

const endpointsFile = "endpoints.json"

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readEndpoints reads what a running `gatehouse dev` wrote to stateDir.
func readEndpoints(stateDir string) (*endpoints, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, endpointsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &noDevError{stateDir}
	}
	if err != nil {
		return nil, err
	}
	var ep endpoints
	if err := json.Unmarshal(b, &ep); err != nil {
		return nil, fmt.Errorf("%s: %w", endpointsFile, err)
	}
	return &ep, nil
}

// noDevError: no `gatehouse dev` runs with the state directory (it removes
// its endpoints when it stops).
type noDevError struct{ stateDir string }

func (e *noDevError) Error() string {
	return fmt.Sprintf("no running 'gatehouse dev' found in state directory %s (start it, or pass --state-dir)", e.stateDir)
}
