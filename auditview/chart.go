package auditview

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// maxBuckets bounds the bars of the decisions chart.
const maxBuckets = 48

// steps are the bucket widths the decisions chart may use.
var steps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour,
}

// buckets divides [from, to) into at most maxBuckets buckets of a round
// width, aligned to it (UTC), and returns their edges: the first at or
// before from, the last at or after to.
func buckets(from, to time.Time) ([]time.Time, time.Duration) {
	step := steps[len(steps)-1]
	for _, s := range steps {
		if to.Sub(from.Truncate(s)) <= time.Duration(maxBuckets)*s {
			step = s
			break
		}
	}
	var edges []time.Time
	for t := from.UTC().Truncate(step); ; t = t.Add(step) {
		edges = append(edges, t)
		if !t.Before(to) {
			break
		}
	}
	return edges, step
}

// Geometry of the decisions chart, in SVG user units.
const (
	chartW, chartH      = 760.0, 200.0
	plotLeft, plotRight = 48.0, 8.0
	plotTop, plotBottom = 10.0, 24.0
)

// timeChart is the decisions-over-time chart, laid out for the template.
type timeChart struct {
	W, H       float64
	PlotBottom float64 // y of the axis
	PlotLeft   float64
	PlotRight  float64 // x of the right end
	Bars       []timeBar
	Ticks      []tick
	YMax       int64
	Step       string
	Total      audit.DecisionCounts
}

type timeBar struct {
	X, W  float64
	Segs  []segment
	Title string
	Zoom  string // the page for this bucket alone
}

type segment struct {
	Class string // allow, deny, error
	Y, H  float64
}

type tick struct {
	X     float64
	Label string
}

// layoutTime lays out counts per bucket between edges. zoom returns the
// link that narrows the view to one bucket.
func layoutTime(counts []audit.DecisionCounts, edges []time.Time, step time.Duration, zoom func(from, to time.Time) string) timeChart {
	c := timeChart{W: chartW, H: chartH, PlotBottom: chartH - plotBottom, PlotLeft: plotLeft, PlotRight: chartW - plotRight, Step: formatStep(step)}
	for _, n := range counts {
		c.YMax = max(c.YMax, n.Total())
		c.Total.Allow += n.Allow
		c.Total.Deny += n.Deny
		c.Total.Error += n.Error
	}
	if len(counts) == 0 {
		return c
	}
	plotW, plotH := c.PlotRight-c.PlotLeft, c.PlotBottom-plotTop
	bw := plotW / float64(len(counts))
	gap := min(2, bw/5)
	scale := 0.0
	if c.YMax > 0 {
		scale = plotH / float64(c.YMax)
	}
	labelEvery := max(1, len(counts)/6)
	layout := "15:04"
	if step >= 24*time.Hour {
		layout = "Jan 2"
	} else if edges[len(edges)-1].Sub(edges[0]) > 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	for i, n := range counts {
		x := c.PlotLeft + float64(i)*bw
		b := timeBar{X: x + gap/2, W: bw - gap, Zoom: zoom(edges[i], edges[i+1]),
			Title: fmt.Sprintf("%s – %s UTC: %d allowed, %d denied, %d errors", edges[i].Format("2006-01-02 15:04"), edges[i+1].Format("15:04"), n.Allow, n.Deny, n.Error)}
		y := c.PlotBottom
		for _, s := range []struct {
			class string
			n     int64
		}{{"allow", n.Allow}, {"deny", n.Deny}, {"error", n.Error}} {
			if s.n == 0 {
				continue
			}
			h := max(float64(s.n)*scale, 1)
			y -= h
			b.Segs = append(b.Segs, segment{Class: s.class, Y: y, H: h})
		}
		c.Bars = append(c.Bars, b)
		if i%labelEvery == 0 {
			c.Ticks = append(c.Ticks, tick{X: x, Label: edges[i].Format(layout)})
		}
	}
	return c
}

func formatStep(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
}

// topChart is a list of keys with bars, laid out for the template.
type topChart struct {
	W, H float64
	Rows []topRow
}

type topRow struct {
	Y, BarW float64
	Label   string // shortened
	Full    string
	N       int64
	Link    string
}

const (
	topW, topRowH = 360.0, 22.0
	topLabelW     = 150.0
)

// layoutTop lays out counts; label names a key, link filters by it.
func layoutTop(counts []audit.Count, label func(string) string, link func(string) url.Values, page func(url.Values) string) topChart {
	c := topChart{W: topW, H: topRowH * float64(max(len(counts), 1))}
	var most int64
	for _, n := range counts {
		most = max(most, n.N)
	}
	for i, n := range counts {
		r := topRow{Y: float64(i) * topRowH, Label: label(n.Key), Full: n.Key, N: n.N, Link: page(link(n.Key))}
		if most > 0 {
			r.BarW = max((topW-topLabelW-50)*float64(n.N)/float64(most), 1)
		}
		c.Rows = append(c.Rows, r)
	}
	return c
}
