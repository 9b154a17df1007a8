package idp

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kids returns the JWKS kids by state, from the server's own view.
func (f *fixture) kidsByState(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, k := range f.srv.keys.snapshot().published(f.clock.Now(), f.srv.lifetime) {
		out[k.State] = append(out[k.State], k.kid)
	}
	return out
}

func (f *fixture) publishedKids(t *testing.T) []string {
	t.Helper()
	var kids []string
	for _, k := range f.jwks(t, false).Keys {
		kids = append(kids, k.KeyID)
	}
	slices.Sort(kids)
	return kids
}

func (f *fixture) appToken(t *testing.T) string {
	t.Helper()
	body := f.tokenOK(t, form("grant_type", "client_credentials", "client_id", daemonID, "client_secret", daemonSecret, "scope", apiDefault))
	return body["access_token"].(string)
}

func sorted(s ...string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestKeyRotationInMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	before := f.kidsByState(t)
	if len(before[stateCurrent]) != 1 || len(before[stateNext]) != 1 || len(before[stateRetired]) != 0 {
		t.Fatalf("initial states %v: want one current and one next", before)
	}
	if got, want := f.publishedKids(t), sorted(before[stateCurrent][0], before[stateNext][0]); !slices.Equal(got, want) {
		t.Fatalf("JWKS %v, want %v", got, want)
	}
	old := f.appToken(t)
	if h, _ := f.verify(t, old); h["kid"] != before[stateCurrent][0] {
		t.Fatalf("signed with %v, want the current key", h["kid"])
	}

	if err := f.srv.Rotate(); err != nil {
		t.Fatal(err)
	}
	after := f.kidsByState(t)
	if after[stateCurrent][0] != before[stateNext][0] || after[stateRetired][0] != before[stateCurrent][0] || len(after[stateNext]) != 1 {
		t.Fatalf("after rotation %v (before %v): want next -> current, current -> retired, a new next", after, before)
	}
	if got, want := f.publishedKids(t), sorted(after[stateCurrent][0], after[stateNext][0], after[stateRetired][0]); !slices.Equal(got, want) {
		t.Errorf("JWKS %v, want next, current and retired %v", got, want)
	}
	if h, _ := f.verify(t, f.appToken(t)); h["kid"] != after[stateCurrent][0] {
		t.Errorf("new token signed with %v, want the new current key", h["kid"])
	}
	f.verify(t, old) // still verifies: the retired key is published

	// Once the retired key's tokens have expired it leaves the JWKS.
	f.clock.Add(f.srv.lifetime + publishMargin)
	if got, want := f.publishedKids(t), sorted(after[stateCurrent][0], after[stateNext][0]); !slices.Equal(got, want) {
		t.Errorf("JWKS %v after the retired key's tokens expired, want %v", got, want)
	}
}

func TestKeyDirPersistsAndReloadsRotatedKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	f := newFixture(t, func(c *Config) { c.KeyDir = dir })
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	first := f.kidsByState(t)

	// A restart reuses the keys, so tokens stay valid.
	g := newFixture(t, func(c *Config) { c.KeyDir = dir })
	if got := g.kidsByState(t); got[stateCurrent][0] != first[stateCurrent][0] {
		t.Fatalf("restart changed the current key: %v, was %v", got, first)
	}

	// Another process rotates the file; the running server notices once a
	// second has passed on its clock.
	if err := RotateKeys(dir, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if h, _ := f.verify(t, f.appToken(t)); h["kid"] != first[stateCurrent][0] {
		t.Errorf("within the second: signed with %v, want the old key", h["kid"])
	}
	f.clock.Add(reloadInterval)
	if h, _ := f.verify(t, f.appToken(t)); h["kid"] != first[stateNext][0] {
		t.Errorf("after a second: signed with %v, want the promoted key %s", h["kid"], first[stateNext][0])
	}
	if got := f.kidsByState(t); got[stateRetired][0] != first[stateCurrent][0] {
		t.Errorf("states %v: the old current key should be retired", got)
	}

	// A broken file keeps the keys already loaded.
	if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(reloadInterval)
	if h, _ := f.verify(t, f.appToken(t)); h["kid"] != first[stateNext][0] {
		t.Errorf("after a broken file: signed with %v", h["kid"])
	}
}

func TestRotateKeysDropsOldRetiredKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := RotateKeys(dir, now); err != nil { // creates, then rotates
		t.Fatal(err)
	}
	states := func() []string {
		f, _, err := readKeyFile(filepath.Join(dir, KeyFileName))
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, k := range f.Keys {
			s = append(s, k.State)
		}
		slices.Sort(s)
		return s
	}
	if got := states(); !slices.Equal(got, []string{stateCurrent, stateNext, stateRetired}) {
		t.Errorf("after one rotation: %v", got)
	}
	if err := RotateKeys(dir, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := states(); !slices.Equal(got, []string{stateCurrent, stateNext, stateRetired, stateRetired}) {
		t.Errorf("after two rotations: %v", got)
	}
	if err := RotateKeys(dir, now.Add(retiredKeyMaxAge+2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := states(); !slices.Equal(got, []string{stateCurrent, stateNext, stateRetired}) {
		t.Errorf("a day later: %v, want the old retired keys dropped", got)
	}
	if err := RotateKeys("", now); err == nil {
		t.Error("RotateKeys without a directory succeeded")
	}
}

func TestKeyFileReadableByOthersIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := RotateKeys(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{BaseURL: "https://idp.example", Tenants: testTenants(), KeyDir: dir})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("New() error = %v, want a refusal naming chmod 600", err)
	}
}
