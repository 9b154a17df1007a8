package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"gatehouse/authz"
	"gatehouse/config"
	"gatehouse/gateway"
)

// policyWatcher re-reads the configuration file when it or one of its Cedar
// files changes, or on SIGHUP, and swaps the new policy into the engine and
// the new routes into the gateway (requests in flight finish on what they
// started with). A broken file leaves both in place and logs every problem.
// Other sections (issuers, credentials, audit) take effect on restart.
type policyWatcher struct {
	path     string // configuration file; "" for the embedded one (SIGHUP only)
	eng      *authz.Engine
	gw       *gateway.Gateway // nil: policy only
	parts    gatewayParts     // what the gateway's routes are built with
	log      *slog.Logger
	interval time.Duration
	seen     map[string]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (w *policyWatcher) files(f *config.File) []string {
	if w.path == "" {
		return nil
	}
	out := []string{w.path}
	for _, p := range f.AuthZ.PolicyFiles {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(w.path), p)
		}
		out = append(out, p)
	}
	return out
}

func stamps(paths []string) map[string]fileStamp {
	m := make(map[string]fileStamp, len(paths))
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			m[p] = fileStamp{fi.ModTime(), fi.Size()}
		} else {
			m[p] = fileStamp{}
		}
	}
	return m
}

func changed(old, cur map[string]fileStamp) bool {
	if len(old) != len(cur) {
		return true
	}
	for p, s := range cur {
		if old[p] != s {
			return true
		}
	}
	return false
}

// run watches until ctx ends. f is the configuration the engine was built from.
func (w *policyWatcher) run(ctx context.Context, f *config.File) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	w.seen = stamps(w.files(f))
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			w.reload("SIGHUP")
		case <-tick.C:
			cur := stamps(w.watched())
			if changed(w.seen, cur) {
				w.seen = cur
				w.reload("file change")
			}
		}
	}
}

// watched lists the files to stat now: the ones last seen (the configuration
// names its Cedar files, which a reload may change).
func (w *policyWatcher) watched() []string {
	out := make([]string, 0, len(w.seen))
	for p := range w.seen {
		out = append(out, p)
	}
	return out
}

func (w *policyWatcher) reload(why string) {
	f, err := loadConfig(w.path)
	if err == nil {
		var files []authz.PolicyFile
		var routes []gateway.Route
		if files, err = readPolicyFiles(f, w.path); err == nil && w.gw != nil {
			routes, err = buildRoutes(f, w.parts)
		}
		if err == nil {
			err = w.eng.Reload(f.AuthZ.Runtime(files))
		}
		if err == nil && w.gw != nil {
			err = w.gw.SetRoutes(routes)
		}
		w.seen = stamps(w.files(f))
	}
	if err != nil {
		var problems []string
		for _, p := range config.Problems(err) {
			problems = append(problems, p.Error())
		}
		for _, p := range authz.Problems(err) {
			problems = append(problems, p.Error())
		}
		if len(problems) == 0 {
			problems = []string{err.Error()}
		}
		w.log.Error("policy reload failed; the previous policy stays in force", "trigger", why, "problems", problems)
		return
	}
	w.log.Info("policy reloaded", "trigger", why, "roles", len(f.AuthZ.Roles), "rules", len(f.AuthZ.Rules), "routes", len(f.Gateway.Routes))
}
