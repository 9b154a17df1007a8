package auditview

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// verifyView is the verification banner.
type verifyView struct {
	Done, Running, Intact, Failed bool
	Broken                        *audit.ChainError
	BrokenLink                    string
	RunningFor                    string
	At, Age, Took                 string
	Events                        int64
	Checkpoints, ChainCount       int
	Signed                        bool
	KeyNote                       string
	Chains                        []chainRow
	MoreChains                    int
	Newest                        audit.Checkpoint
	Unanchored                    int64
}

func (v *View) verifyView() verifyView {
	last, running := v.verify.state()
	now := v.cfg.Now()
	vv := verifyView{Running: running != nil, KeyNote: v.cfg.VerifyKeyNote}
	if running != nil {
		vv.RunningFor = age(now.Sub(*running))
	}
	if last == nil {
		return vv
	}
	vv.Done = true
	vv.Intact, vv.Failed, vv.Broken = last.Intact(), last.Err != nil, last.Broken
	vv.At, vv.Age, vv.Took = last.Finished.UTC().Format("2006-01-02 15:04:05"), age(now.Sub(last.Finished)), age(last.Took())
	if last.Report != nil {
		vv.Events, vv.Checkpoints, vv.ChainCount, vv.Signed = last.Report.Events, last.Report.Checkpoints, len(last.Report.Chains), last.Report.Signed
	}
	if vv.Broken != nil && vv.Broken.Position > 0 {
		vv.BrokenLink = v.url("event/"+strconv.FormatInt(vv.Broken.Position, 10), nil)
	}
	vv.Chains, vv.MoreChains = last.chainRows(10)
	vv.Newest, vv.Unanchored = last.Newest, last.unanchored()
	return vv
}

// age writes a duration for people: 4s, 3 min, 2 h, 5 days.
func age(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}

// indexPage is the timeline.
type indexPage struct {
	page
	P          params
	Windows    []window
	Routes     []string
	Roles      []string
	CanUser    bool
	Active     []activeFilter
	Rows       []row
	Older      string
	Newest     string
	Chart      timeChart
	Principals topChart
	Agents     topChart
	ExportCSV  string
	ExportJSON string
	MaxExport  int
	FromInput  string
	ToInput    string
}

type activeFilter struct {
	Name, Value, Remove string
}

// row is one event of the timeline.
type row struct {
	Pos                            int64
	Time                           time.Time
	Decision, Route, Role, Problem string
	Status                         int
	Principal, PrincipalLink       string
	Agent, AgentTitle, AgentLink   string
	Link                           string
	Broken                         bool
	Unreadable                     string
	Chain                          string
	Seq                            int64
}

func (v *View) index(w http.ResponseWriter, r *http.Request) {
	now := v.cfg.Now().UTC()
	p, uq, err := parseParams(r.URL.Query(), now)
	if err != nil {
		pg := v.page("Audit trail")
		pg.Error = err.Error()
		v.render(w, http.StatusBadRequest, "index.html", v.indexShell(pg, p))
		return
	}
	if uq.User != "" {
		v.resolve(w, r, p, uq)
		return
	}
	f := p.filter()
	f.Agent = v.agentKey(p.Agent)
	edges, step := buckets(p.From, p.To)

	var entries []audit.Entry
	var counts []audit.DecisionCounts
	var top *audit.Top
	ctx := r.Context()
	err = parallel(
		func() (err error) { entries, err = v.store.Page(ctx, f, p.After, p.Limit); return },
		func() (err error) { counts, err = v.store.Histogram(ctx, f, edges); return },
		func() (err error) { top, err = v.store.TopDenied(ctx, f, 10); return },
	)
	if err != nil {
		v.storeFailed(w, err)
		return
	}

	pg := v.indexShell(v.page("Audit trail"), p)
	last, _ := v.verify.state()
	for _, en := range entries {
		pg.Rows = append(pg.Rows, v.row(p, en, last))
	}
	if len(entries) == p.Limit {
		q := p.values()
		q.Set("after", formatCursor(entries[len(entries)-1].Cursor()))
		pg.Older = v.url("", q)
	}
	if !p.After.IsZero() {
		pg.Newest = v.url("", p.values())
	}
	pg.Chart = layoutTime(counts, edges, step, func(from, to time.Time) string {
		z := p
		z.Window, z.From, z.To = "", maxTime(from, p.From), minTime(to, p.To)
		if !z.From.Before(z.To) || z.To.Sub(z.From) < time.Minute {
			return ""
		}
		return v.url("", z.values())
	})
	pageURL := func(q url.Values) string { return v.url("", q) }
	pg.Principals = layoutTop(top.Principals, shortKey, func(k string) url.Values { return p.with("principal", k) }, pageURL)
	pg.Agents = layoutTop(top.Agents, v.agentLabel, func(k string) url.Values { return p.with("agent", k) }, pageURL)
	v.render(w, http.StatusOK, "index.html", pg)
}

// indexShell is the timeline page without results: its filters and links.
func (v *View) indexShell(pg page, p params) indexPage {
	ip := indexPage{page: pg, P: p, Windows: windows, Routes: v.cfg.Routes, Roles: v.cfg.Roles, CanUser: v.cfg.ResolveUser != nil,
		ExportCSV: v.url("export.csv", p.values()), ExportJSON: v.url("export.jsonl", p.values()), MaxExport: MaxExport}
	if p.Window == "" {
		ip.FromInput, ip.ToInput = p.From.UTC().Format(inputLayout), p.To.UTC().Format(inputLayout)
	}
	add := func(name, key, value, shown string) {
		if value != "" {
			ip.Active = append(ip.Active, activeFilter{Name: name, Value: shown, Remove: v.url("", p.with(key, ""))})
		}
	}
	if len(p.Principals) > 0 {
		shown := shortKey(p.Principals[0])
		if len(p.Principals) > 1 {
			shown = fmt.Sprintf("%s and %d more (one per pseudonym key)", shown, len(p.Principals)-1)
		}
		add("principal", "principal", p.Principals[0], shown)
	}
	add("agent", "agent", p.Agent, v.agentLabel(v.agentKey(p.Agent)))
	add("route", "route", p.Route, p.Route)
	add("role", "role", p.Role, p.Role)
	add("decision", "decision", p.Decision, p.Decision)
	return ip
}

func (v *View) row(p params, en audit.Entry, last *verification) row {
	e := en.Event
	rw := row{Pos: en.Pos, Time: e.Time, Decision: e.Decision, Route: e.Route, Role: e.Role, Status: e.Status,
		Problem: cmp.Or(e.Check, e.ErrorClass), Link: v.url("event/"+strconv.FormatInt(en.Pos, 10), nil),
		Chain: e.Chain, Seq: e.Seq}
	if en.Err != nil {
		rw.Unreadable = en.Err.Error()
	}
	if e.Principal != "" {
		rw.Principal = e.Principal
		rw.PrincipalLink = v.url("", p.with("principal", e.Principal))
	}
	if a := e.ActingAgent(); a != "" {
		rw.Agent, rw.AgentTitle = v.agentLabel(a), a
		if len(e.Agents) > 1 {
			rw.Agent += fmt.Sprintf(" (+%d)", len(e.Agents)-1)
		}
		rw.AgentLink = v.url("", p.with("agent", a))
	}
	rw.Broken = last != nil && last.Broken != nil && last.Broken.Position == en.Pos
	return rw
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// eventPage is one event's full record.
type eventPage struct {
	page
	Entry       *audit.Entry
	Event       audit.Event
	Stored      string // the JSON as stored
	HashOK      bool   // the stored hash is the hash of the content
	Agents      []agentView
	Prev, Next  string // the neighbours in the chain
	Checkpoint  audit.Checkpoint
	Covered     bool // a signed checkpoint covers the event
	HasChain    bool
	BrokenHere  bool
	BrokenAfter bool // verification stopped before this position
	Back        string
}

type agentView struct {
	audit.Agent
	Name string
}

func (v *View) event(w http.ResponseWriter, r *http.Request) {
	pos, err := strconv.ParseInt(r.PathValue("pos"), 10, 64)
	if err != nil || pos < 1 {
		v.fail(w, http.StatusNotFound, "no such event")
		return
	}
	ctx := r.Context()
	en, err := v.store.Entry(ctx, pos)
	if err != nil {
		v.storeFailed(w, err)
		return
	}
	if en == nil {
		v.fail(w, http.StatusNotFound, "no event at this position")
		return
	}
	pg := eventPage{page: v.page("Event at position " + strconv.FormatInt(pos, 10)), Entry: en, Event: en.Event, Back: v.cfg.Prefix}
	if en.Err == nil {
		e := en.Event
		pg.Stored = string(e.Canonical())
		pg.HashOK = e.ChainHash() == e.Hash
		for _, a := range e.Agents {
			pg.Agents = append(pg.Agents, agentView{Agent: a, Name: v.cfg.Agents[a.App]})
		}
		pg.HasChain = e.Chain != ""
		if pg.HasChain {
			var prev, next *audit.Entry
			err := parallel(
				func() (err error) { prev, err = v.store.ChainEntry(ctx, e.Chain, e.Seq-1); return },
				func() (err error) { next, err = v.store.ChainEntry(ctx, e.Chain, e.Seq+1); return },
			)
			if err != nil {
				v.storeFailed(w, err)
				return
			}
			if prev != nil {
				pg.Prev = v.url("event/"+strconv.FormatInt(prev.Pos, 10), nil)
			}
			if next != nil {
				pg.Next = v.url("event/"+strconv.FormatInt(next.Pos, 10), nil)
			}
		}
	}
	last, _ := v.verify.state()
	pg.Checkpoint, pg.Covered = last.checkpointFor(en.Event.Chain, en.Event.Seq)
	if last != nil && last.Broken != nil {
		pg.BrokenHere = last.Broken.Position == pos
		pg.BrokenAfter = last.Broken.Position > 0 && pos > last.Broken.Position
	}
	v.render(w, http.StatusOK, "event.html", pg)
}
