package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
)

// reloader re-reads the configuration file when it or one of its Cedar files
// changes, or on SIGHUP, and hands the new version to apply, which builds
// what it needs to the side and swaps it in at once (requests in flight
// finish on what they started with). A broken file, or one apply refuses,
// leaves everything as it was and logs every problem. The credential
// broker, gatehouse's issuer and the audit trail take effect on restart.
type reloader struct {
	path     string // configuration file; "" for the embedded one (SIGHUP only)
	where    config.Where
	opts     build.Options
	apply    func(context.Context, *config.File) error
	log      *slog.Logger
	interval time.Duration
	seen     map[string]fileStamp
	// override, if set, applies the command line to each version of the
	// file and returns its problems as they then stand (serveOptions).
	override func(*config.File, error) error
	// hup, if set, also runs on SIGHUP: the secrets are read again.
	hup func(context.Context)
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (w *reloader) files(f *config.File) []string {
	if w.path == "" {
		return nil
	}
	return append([]string{w.path}, build.PolicyFiles(f, w.opts)...)
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

// run watches until ctx ends. f is the configuration running now.
func (w *reloader) run(ctx context.Context, f *config.File) {
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
			if w.hup != nil {
				w.hup(ctx)
			}
			w.reload(ctx, "SIGHUP")
		case <-tick.C:
			cur := stamps(w.watched())
			if changed(w.seen, cur) {
				w.seen = cur
				w.reload(ctx, "file change")
			}
		}
	}
}

// watched lists the files to stat now: the ones last seen (the configuration
// names its Cedar files, which a reload may change).
func (w *reloader) watched() []string {
	out := make([]string, 0, len(w.seen))
	for p := range w.seen {
		out = append(out, p)
	}
	return out
}

func (w *reloader) reload(ctx context.Context, why string) {
	var f *config.File
	var err error
	switch {
	case w.path == "":
		f = config.Default()
	case w.override != nil:
		if f, _, err = config.LoadSource(w.path, w.where); f != nil {
			err = w.override(f, err)
		}
	default:
		f, err = config.LoadFor(w.path, w.where)
	}
	if err == nil {
		w.seen = stamps(w.files(f))
		err = w.apply(ctx, f)
	}
	if err != nil {
		w.log.Error("policy reload failed; the running configuration (policy, routes, issuers) stays in force, whole", "trigger", why, "problems", problemList(err))
		return
	}
	w.log.Info("policy reloaded", "trigger", why, "roles", len(f.AuthZ.Roles), "rules", len(f.AuthZ.Rules), "routes", len(f.Gateway.Routes))
}

// problemList is every problem of err, as text.
func problemList(err error) []string {
	var out []string
	for _, p := range config.Problems(err) {
		out = append(out, p.Error())
	}
	for _, p := range authz.Problems(err) {
		out = append(out, p.Error())
	}
	if len(out) == 0 {
		out = []string{err.Error()}
	}
	return out
}
