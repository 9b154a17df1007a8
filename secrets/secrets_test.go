package secrets

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func newSet(clock *testkit.Clock, log io.Writer) *Set {
	return New(Config{RefreshInterval: time.Minute, MaxAge: time.Hour, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(log, nil))})
}

// A file secret: read at Load, rotated by rewriting the file, the last
// good value kept while the file is unreadable, then refused past MaxAge.
func TestFileRotationAndOutage(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	var log bytes.Buffer
	set := newSet(clock, &log)
	path := filepath.Join(t.TempDir(), "dsn")
	if err := privatefile.Write(path, []byte("postgres://u:first-password@db/x")); err != nil {
		t.Fatal(err)
	}
	sec := set.Add(FileSource{Path: path, Name: "dsn"}, Raw)
	if set.Add(FileSource{Path: path, Name: "dsn"}, Raw) != sec {
		t.Error("the same reference added twice gives two secrets")
	}
	if _, err := sec.Get(); err == nil {
		t.Error("Get before Load succeeded")
	}
	if err := set.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, err := sec.Get()
	if err != nil || string(v.Bytes) != "postgres://u:first-password@db/x" {
		t.Fatalf("Get: %q %v", v.Bytes, err)
	}
	var mu sync.Mutex
	var seen []string
	sec.OnChange(func(v Value) { mu.Lock(); seen = append(seen, string(v.Bytes)); mu.Unlock() })

	// Unchanged: no notification.
	if err := set.Refresh(context.Background()); err != nil || len(seen) != 0 {
		t.Fatalf("refresh of an unchanged file: %v, notified %q", err, seen)
	}
	// Rotated.
	os.Chtimes(path, time.Now().Add(time.Second), time.Now().Add(time.Second))
	if err := privatefile.Write(path, []byte("postgres://u:second-password@db/x")); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	if err := set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, _ := sec.Get(); string(v.Bytes) != "postgres://u:second-password@db/x" || len(seen) != 1 || seen[0] != string(v.Bytes) {
		t.Fatalf("after rotation: %q, notified %q", v.Bytes, seen)
	}
	// The store goes away: the last good value serves until MaxAge.
	os.Remove(path)
	clock.Add(59 * time.Minute)
	if err := set.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "secret file:dsn") {
		t.Fatalf("refresh of a missing file: %v", err)
	}
	if v, err := sec.Get(); err != nil || string(v.Bytes) != "postgres://u:second-password@db/x" {
		t.Fatalf("within max age: %q %v", v.Bytes, err)
	}
	if err := set.Ready(); err != nil {
		t.Errorf("Ready within max age: %v", err)
	}
	clock.Add(2 * time.Minute)
	if _, err := sec.Get(); err == nil || !strings.Contains(err.Error(), "max_age") {
		t.Fatalf("past max age: %v", err)
	}
	st := set.Status()
	if len(st) != 1 || st[0].Usable || st[0].Failures != 1 || st[0].Ref != "file:dsn" || st[0].LastError == "" {
		t.Errorf("Status: %+v", st)
	}
	if err := set.Ready(); err == nil || !strings.Contains(err.Error(), "file:dsn") {
		t.Errorf("Ready past max age: %v", err)
	}
	// Nothing the package wrote holds a value.
	for _, s := range []string{"first-password", "second-password"} {
		if strings.Contains(log.String(), s) || strings.Contains(st[0].LastError, s) {
			t.Errorf("a value leaked into the log or status: %s", log.String())
		}
	}
}

func TestLoadNamesEveryFailure(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	set := newSet(clock, io.Discard)
	dir := t.TempDir()
	set.Add(FileSource{Path: filepath.Join(dir, "a"), Name: "a"}, Raw)
	open := filepath.Join(dir, "b")
	os.WriteFile(open, []byte("x"), 0o644)
	set.Add(FileSource{Path: open, Name: "b"}, Raw)
	empty := filepath.Join(dir, "c")
	privatefile.Write(empty, nil)
	set.Add(FileSource{Path: empty, Name: "c"}, Raw)
	err := set.Load(context.Background())
	for _, want := range []string{"secret file:a: ", "secret file:b: ", "chmod", "secret file:c: the secret is empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load: %v; want %q", err, want)
		}
	}
}

func TestBase64(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	dir := t.TempDir()
	for _, enc := range []string{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"} {
		path := filepath.Join(dir, "k")
		privatefile.Write(path, []byte(enc))
		set := newSet(clock, io.Discard)
		sec := set.Add(FileSource{Path: path, Name: "k"}, Base64)
		if err := set.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		v, _ := sec.Get()
		if len(v.Bytes) != 32 || v.Bytes[31] != 31 {
			t.Errorf("%q decoded to %x", enc, v.Bytes)
		}
	}
	path := filepath.Join(dir, "bad")
	privatefile.Write(path, []byte("not base64!"))
	set := newSet(clock, io.Discard)
	set.Add(FileSource{Path: path, Name: "bad"}, Base64)
	if err := set.Load(context.Background()); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Errorf("bad base64: %v (must fail without the value)", err)
	}
}

// failing is a Source whose store is down: it stands in for a network
// store in the scheduling test, which is about Run, not about any store.
type failing struct{ calls chan struct{} }

func (f failing) String() string { return "test:down" }
func (f failing) Fetch(context.Context) (Value, error) {
	f.calls <- struct{}{}
	return Value{}, errors.New("connection refused")
}

func TestRunRefreshesOnSchedule(t *testing.T) {
	set := New(Config{RefreshInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	calls := make(chan struct{}, 10)
	set.Add(failing{calls}, Raw)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { set.Run(ctx); close(done) }()
	for range 2 {
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not refresh")
		}
	}
	cancel()
	<-done
}

// TestPublicFile: a public file (a certificate) reads whatever its mode; a
// directory and an oversized file are refused; a private one still needs
// 0600.
func TestPublicFile(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----"), 0o644)
	if v, err := (FileSource{Path: cert, Name: "cert.pem", Public: true}).Fetch(context.Background()); err != nil || string(v.Bytes) != "-----BEGIN CERTIFICATE-----" {
		t.Errorf("public 0644 file: %q %v", v.Bytes, err)
	}
	if _, err := (FileSource{Path: cert, Name: "cert.pem"}).Fetch(context.Background()); err == nil {
		t.Error("a 0644 file was read as a secret")
	}
	if _, err := (FileSource{Path: dir, Name: "dir", Public: true}).Fetch(context.Background()); err == nil {
		t.Error("a directory was read")
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxBytes+1), 0o644)
	if _, err := (FileSource{Path: big, Name: "big", Public: true}).Fetch(context.Background()); err == nil {
		t.Error("an oversized file was read")
	}
}
