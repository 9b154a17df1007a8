package auditview

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// Bounds on what a request may ask.
const (
	// MaxValueBytes bounds each filter value.
	MaxValueBytes = 256
	// MaxPrincipals bounds the pseudonyms one filter names (one per key).
	MaxPrincipals = 16
	// DefaultLimit and MaxLimit are the page sizes.
	DefaultLimit = 50
	MaxLimit     = 500
	// MaxWindow is the longest time window: histograms and top lists read
	// every event in it.
	MaxWindow = 92 * 24 * time.Hour
	// MaxExport bounds the events one export writes.
	MaxExport = 100_000
)

// window is a preset time window, up to now.
type window struct {
	Name  string
	Label string
	D     time.Duration
}

var windows = []window{
	{"1h", "last hour", time.Hour},
	{"24h", "last 24 hours", 24 * time.Hour},
	{"7d", "last 7 days", 7 * 24 * time.Hour},
	{"30d", "last 30 days", 30 * 24 * time.Hour},
	{"90d", "last 90 days", 90 * 24 * time.Hour},
}

const defaultWindow = "24h"

// inputLayout is what an <input type="datetime-local"> sends, taken as UTC.
const inputLayout = "2006-01-02T15:04"

// params is a request's filters, validated. It never holds a user's name:
// a request naming one is answered with a redirect to its pseudonyms.
type params struct {
	Principals []string
	Agent      string
	Route      string
	Role       string
	Decision   string
	Window     string    // a preset's name, or "" for From/To
	From, To   time.Time // the window, [From, To)
	Limit      int
	After      audit.Cursor
}

// userQuery is the part of a request that names a user, to resolve.
type userQuery struct {
	User, Tenant string
}

var errBadValue = errors.New("bad value")

// parseParams reads and bounds the filters of q. It returns the user to
// resolve, if the request names one.
func parseParams(q url.Values, now time.Time) (params, userQuery, error) {
	var p params
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	one := func(name string) string {
		vs := q[name]
		if len(vs) == 0 {
			return ""
		}
		v := strings.TrimSpace(vs[0])
		if len(vs) > 1 {
			bad("%s: given %d times", name, len(vs))
		}
		if len(v) > MaxValueBytes || !utf8.ValidString(v) {
			bad("%s: longer than %d bytes or not UTF-8", name, MaxValueBytes)
			return ""
		}
		return v
	}
	uq := userQuery{User: one("user"), Tenant: one("tenant")}
	for _, v := range q["principal"] {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
		case len(v) > MaxValueBytes || !utf8.ValidString(v):
			bad("principal: longer than %d bytes or not UTF-8", MaxValueBytes)
		case !slices.Contains(p.Principals, v):
			p.Principals = append(p.Principals, v)
		}
	}
	if len(p.Principals) > MaxPrincipals {
		bad("principal: more than %d pseudonyms", MaxPrincipals)
		p.Principals = p.Principals[:MaxPrincipals]
	}
	p.Agent, p.Route, p.Role = one("agent"), one("route"), one("role")
	switch d := one("decision"); d {
	case "", audit.DecisionAllow, audit.DecisionDeny, audit.DecisionError:
		p.Decision = d
	default:
		bad("decision: want allow, deny or error")
	}

	p.Limit = DefaultLimit
	if l := one("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxLimit {
			bad("limit: want a number from 1 to %d", MaxLimit)
		} else {
			p.Limit = n
		}
	}

	// A preset window wins over from and to, which the form keeps filled;
	// "custom", or from or to alone, is the window they give.
	from, to, win := one("from"), one("to"), one("window")
	switch {
	case win == "custom" || win == "" && (from != "" || to != ""):
		p.To = now
		if to != "" {
			t, err := time.Parse(inputLayout, to)
			if err != nil {
				bad("to: want a time such as 2026-11-25T12:00 (UTC)")
			} else {
				p.To = t
			}
		}
		p.From = p.To.Add(-24 * time.Hour)
		if from != "" {
			t, err := time.Parse(inputLayout, from)
			if err != nil {
				bad("from: want a time such as 2026-11-25T12:00 (UTC)")
			} else {
				p.From = t
			}
		}
		if !p.From.Before(p.To) {
			bad("from must be before to")
		} else if p.To.Sub(p.From) > MaxWindow {
			bad("the window is longer than %d days", int(MaxWindow.Hours()/24))
		}
	default:
		p.Window = defaultWindow
		if win != "" {
			p.Window = win
		}
		i := slices.IndexFunc(windows, func(w window) bool { return w.Name == p.Window })
		if i < 0 {
			bad("window: want one of 1h, 24h, 7d, 30d, 90d")
			p.Window, i = defaultWindow, 1
		}
		p.To = now
		p.From = now.Add(-windows[i].D)
	}

	if a := one("after"); a != "" {
		c, err := parseCursor(a)
		if err != nil {
			bad("after: not a place in the timeline")
		} else {
			p.After = c
		}
	}
	if len(errs) > 0 {
		return p, userQuery{}, errors.Join(errs...)
	}
	return p, uq, nil
}

// filter is the store filter of p.
func (p *params) filter() audit.Filter {
	return audit.Filter{Principals: p.Principals, Agent: p.Agent, Route: p.Route, Role: p.Role, Decision: p.Decision,
		Since: p.From, Until: p.To}
}

// values encodes p back into a query, without the cursor; a preset window
// stays a preset (relative to now), a custom one is kept as given.
func (p *params) values() url.Values {
	q := url.Values{}
	for _, pr := range p.Principals {
		q.Add("principal", pr)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("agent", p.Agent)
	set("route", p.Route)
	set("role", p.Role)
	set("decision", p.Decision)
	if p.Window != "" {
		if p.Window != defaultWindow {
			q.Set("window", p.Window)
		}
	} else {
		q.Set("from", p.From.UTC().Format(inputLayout))
		q.Set("to", p.To.UTC().Format(inputLayout))
	}
	if p.Limit != DefaultLimit {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	return q
}

// with returns p's query with the key set to v (removed when v is "").
func (p *params) with(key, v string) url.Values {
	q := p.values()
	if v == "" {
		q.Del(key)
	} else {
		q.Set(key, v)
	}
	return q
}

// formatCursor writes a cursor as microseconds since the epoch and the
// position: "1764072000123456.42".
func formatCursor(c audit.Cursor) string {
	return strconv.FormatInt(c.Time.UnixMicro(), 10) + "." + strconv.FormatInt(c.Pos, 10)
}

func parseCursor(s string) (audit.Cursor, error) {
	us, pos, ok := strings.Cut(s, ".")
	if !ok {
		return audit.Cursor{}, errBadValue
	}
	u, err1 := strconv.ParseInt(us, 10, 64)
	n, err2 := strconv.ParseInt(pos, 10, 64)
	if err1 != nil || err2 != nil || n < 1 {
		return audit.Cursor{}, errBadValue
	}
	return audit.Cursor{Time: time.UnixMicro(u).UTC(), Pos: n}, nil
}
