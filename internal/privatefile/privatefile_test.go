package privatefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteThenRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	if err := Write(path, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, err %v; want 0600", fi.Mode().Perm(), err)
	}
	b, _, err := Read(path, 100)
	if err != nil || string(b) != "secret" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if _, _, err := Read(path, 3); err == nil {
		t.Fatal("a file over the limit was read")
	}
	os.Chmod(path, 0o644)
	if _, _, err := Read(path, 100); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable file: %v", err)
	}
}
