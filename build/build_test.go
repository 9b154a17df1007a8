package build

import (
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	o := Options{Dir: "/etc/gatehouse"}
	for in, want := range map[string]string{
		"":               "",
		"/abs/ca.pem":    "/abs/ca.pem",
		"keys/audit-key": "/etc/gatehouse/keys/audit-key",
		"../ca.pem":      "/etc/ca.pem",
		"~/state/ca.pem": filepath.Join(home, "state/ca.pem"),
		"~user/ca.pem":   "/etc/gatehouse/~user/ca.pem", // only the caller's own home
		"dir/~/ca.pem":   "/etc/gatehouse/dir/~/ca.pem",
	} {
		if got := o.Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (Options{}).Path("keys/k"); got != "keys/k" {
		t.Errorf("without Dir: %q", got)
	}
}
