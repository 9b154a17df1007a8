package auditview

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// exportPage is how many events one store read of an export takes.
const exportPage = 500

// csvHeader are the columns of a CSV export.
var csvHeader = []string{"time", "id", "request_id", "chain", "seq", "position", "decision", "route", "action", "resource",
	"principal", "principal_kind", "tenant", "app", "agents", "role", "policies", "target", "status", "latency_us", "check", "error_class"}

// export writes what the filters select, newest first, at most MaxExport
// events, as CSV or as JSON lines (each event in the documented schema,
// hash included), read page by page from the store.
func (v *View) export(w http.ResponseWriter, r *http.Request) {
	p, uq, err := parseParams(r.URL.Query(), v.cfg.Now().UTC())
	if err != nil {
		v.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if uq.User != "" {
		v.fail(w, http.StatusBadRequest, "an export takes pseudonyms: filter the page by user first")
		return
	}
	f := p.filter()
	f.Agent = v.agentKey(p.Agent)
	asCSV := strings.HasSuffix(r.URL.Path, ".csv")
	ctx := r.Context()

	// The first page before any byte is sent, so a store error is a 500.
	entries, err := v.store.Page(ctx, f, p.After, exportPage)
	if err != nil {
		v.storeFailed(w, err)
		return
	}
	name := "gatehouse-audit-" + v.cfg.Now().UTC().Format("20060102-150405")
	h := w.Header()
	if asCSV {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	} else {
		h.Set("Content-Type", "application/jsonl; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="`+name+`.jsonl"`)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	cw := csv.NewWriter(bw)
	if asCSV {
		cw.Write(csvHeader)
	}
	enc := json.NewEncoder(bw)
	written := 0
	for len(entries) > 0 && written < MaxExport {
		for _, en := range entries {
			if written == MaxExport {
				break
			}
			if en.Err != nil {
				continue // it cannot be placed in the schema; verify names it
			}
			written++
			if asCSV {
				cw.Write(csvRecord(en))
			} else if err := enc.Encode(&en.Event); err != nil {
				return
			}
		}
		if len(entries) < exportPage || written == MaxExport {
			break
		}
		if entries, err = v.store.Page(ctx, f, entries[len(entries)-1].Cursor(), exportPage); err != nil {
			// Headers are sent: the export ends short, and the log says why.
			v.cfg.Logger.Error("auditview: export cut short", "err", err)
			break
		}
	}
	cw.Flush()
}

func csvRecord(en audit.Entry) []string {
	e := en.Event
	var agents []string
	for _, a := range e.Agents {
		agents = append(agents, a.App+"/"+a.Subject+"("+a.Via+")")
	}
	rec := []string{audit.FormatTime(e.Time), e.ID, e.RequestID, e.Chain, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(en.Pos, 10),
		e.Decision, e.Route, e.Action, e.Resource, e.Principal, e.PrincipalKind, e.Tenant, e.App, strings.Join(agents, " "), e.Role,
		strings.Join(e.Policies, " "), e.Target, strconv.Itoa(e.Status), strconv.FormatInt(e.LatencyMicros, 10), e.Check, e.ErrorClass}
	for i, s := range rec {
		rec[i] = defuse(s)
	}
	return rec
}

// defuse quotes a cell a spreadsheet would run as a formula (OWASP's
// advice on CSV injection): the trail stores what callers sent, such as a
// request path.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
