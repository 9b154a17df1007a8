package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// buildTimeout bounds one `go build`.
const buildTimeout = 5 * time.Minute

// source is a function's Go package and the executable built from it.
type source struct {
	dir string // the package directory
	bin string // StateDir/bin/<name>

	mu      sync.Mutex // one build or check at a time
	checked time.Time  // when the sources were last looked at
	print   string     // fingerprint of the sources at the last build
	gen     int        // successful builds
	err     error      // the last build's failure, nil after a success
	watch   []string   // directories whose .go files the executable depends on
}

// ensureBuilt builds the package if its sources changed since the last
// build (looked at most once per sourceCheckInterval); idle instances of an
// older build are then retired. A failed build is a functionError
// (Runtime.BuildError) whose detail (the compiler's output) goes to the log
// and to Start's error, never to a caller. stop abandons the
// build when it ends (Start's context); invocations pass
// context.Background(), so that one caller giving up does not fail the
// build for the others (Close still ends it).
func (f *function) ensureBuilt(stop context.Context) error {
	s, h := f.src, f.h
	s.mu.Lock()
	defer s.mu.Unlock()
	now := h.now()
	if (s.gen > 0 || s.err != nil) && now.Sub(s.checked) < sourceCheckInterval && now.Sub(s.checked) >= 0 {
		return s.err
	}
	s.checked = now
	dirs := s.watch
	if len(dirs) == 0 {
		dirs = []string{s.dir}
	}
	fp := fingerprint(dirs)
	if fp == s.print && (s.gen > 0 || s.err != nil) {
		return s.err
	}
	if s.gen == 0 && s.err == nil && s.reuse() {
		// Built by an earlier run of the host from the same sources:
		// starting again does not build again.
		h.log.Info("runtime: function up to date", "function", f.name)
		f.mu.Lock()
		f.gen = s.gen
		f.mu.Unlock()
		return nil
	}
	bctx, cancel := context.WithTimeout(h.ctx, buildTimeout)
	defer cancel()
	defer context.AfterFunc(stop, cancel)()
	start := time.Now()
	out, err := []byte(nil), os.MkdirAll(filepath.Dir(s.bin), 0o700)
	if err == nil {
		out, err = goCommand(bctx, s.dir, "build", "-o", s.bin+".tmp", ".")
	}
	if err == nil {
		err = os.Rename(s.bin+".tmp", s.bin)
	}
	if err != nil && bctx.Err() != nil {
		// Abandoned (Start's context, Close) or too slow: not the sources'
		// fault, so not remembered; the next invocation builds again.
		return newError(CodeService, "The function's build did not finish.").withCause(err)
	}
	s.print = fp
	if err != nil {
		detail := truncate(string(out), 16<<10)
		h.log.Error("runtime: go build failed", "function", f.name, "error", err.Error(), "output", detail)
		s.err = &functionError{Type: "Runtime.BuildError", Message: "go build failed; see the host log.", detail: detail}
		return s.err
	}
	s.err = nil
	s.gen++
	h.log.Info("runtime: built function", "function", f.name, "duration_ms", time.Since(start).Milliseconds())
	if deps, err := mainModuleDirs(bctx, s.dir); err == nil && len(deps) > 0 {
		s.watch = deps
		s.print = fingerprint(deps)
	}
	s.remember()
	f.mu.Lock()
	f.gen = s.gen
	var stale []*instance
	for _, inst := range slices.Clone(f.idle) {
		if f.staleLocked(inst) {
			f.retireLocked(inst, outcome{})
			stale = append(stale, inst)
		}
	}
	f.mu.Unlock()
	for _, inst := range stale {
		inst.kill()
	}
	return nil
}

// builtFrom is what the file beside an executable says it was built from,
// so that the next run of the host can use it as it is.
type builtFrom struct {
	Dir         string   `json:"dir"`
	Watch       []string `json:"watch"`
	Fingerprint string   `json:"fingerprint"`
}

func (s *source) stampPath() string { return s.bin + ".built-from.json" }

// remember records the sources of the executable just built.
func (s *source) remember() {
	b, err := json.Marshal(builtFrom{Dir: s.dir, Watch: s.watch, Fingerprint: s.print})
	if err == nil {
		_ = os.WriteFile(s.stampPath(), b, 0o600)
	}
}

// reuse reports whether the executable an earlier run built is of the
// sources as they are now (same package, same fingerprint of every
// directory it depends on), and if so takes it as built.
func (s *source) reuse() bool {
	b, err := os.ReadFile(s.stampPath())
	if err != nil {
		return false
	}
	var bf builtFrom
	if json.Unmarshal(b, &bf) != nil || bf.Dir != s.dir || len(bf.Watch) == 0 {
		return false
	}
	if _, err := os.Stat(s.bin); err != nil || fingerprint(bf.Watch) != bf.Fingerprint {
		return false
	}
	s.watch, s.print, s.gen = bf.Watch, bf.Fingerprint, 1
	return true
}

// goCommand runs the go tool in dir with the host's environment (the
// developer's toolchain settings), output bounded.
func goCommand(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	lb := &limitedBuffer{buf: &out, max: 64 << 10}
	cmd.Stdout, cmd.Stderr = lb, lb // one writer: exec copies both with one goroutine
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("go %s: %w", args[0], err)
	}
	return out.Bytes(), nil
}

// mainModuleDirs lists the directories of the packages of the main module
// that the package in dir depends on (itself included).
func mainModuleDirs(ctx context.Context, dir string) ([]string, error) {
	out, err := goCommand(ctx, dir, "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", ".")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for l := range strings.Lines(string(out)) {
		if l = strings.TrimSpace(l); l != "" && filepath.IsAbs(l) {
			dirs = append(dirs, l)
		}
	}
	return dirs, nil
}

// fingerprint summarises the .go files of dirs (names, sizes, times).
func fingerprint(dirs []string) string {
	h := sha256.New()
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			fmt.Fprintf(h, "%s\x00error\x00", d)
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00", d, e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// limitedBuffer keeps the first max bytes written to buf.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
