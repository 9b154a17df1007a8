package postgres_test

import (
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
	"github.com/gatehouse-dev/gatehouse/audit/postgres"
)

// proxy forwards TCP to the database and can cut it: while down it closes
// every connection, existing and new, as a database host going away does.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	d, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[d] = true
	p.mu.Unlock()
	go func() { io.Copy(d, c); d.Close() }()
	io.Copy(c, d)
	c.Close()
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// viaProxy returns the test DSN pointed at the proxy.
func viaProxy(t *testing.T) (string, *proxy) {
	u, err := url.Parse(dsn(t))
	if err != nil || u.Scheme == "" {
		t.Skipf("%s is not a URL; the outage test needs one", envDSN)
	}
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return u.String(), p
}

// TestOutageFailClosed: with the database unreachable, Sync Records fail
// with ErrUnavailable; when it is back, recording resumes.
func TestOutageFailClosed(t *testing.T) {
	via, p := viaProxy(t)
	schema := newSchema(t)
	sink, err := postgres.Open(t.Context(), postgres.Config{DSN: via, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	key := audittest.Key(t)
	r, err := audit.NewRecorder(audit.Config{Sink: sink, Signer: key, WriteTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Record(t.Context(), &audit.Event{ID: "before", Decision: "allow"}); err != nil {
		t.Fatal(err)
	}
	p.setDown(true)
	if err := r.Record(t.Context(), &audit.Event{ID: "during", Decision: "allow"}); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Record with the database unreachable = %v; want ErrUnavailable", err)
	}
	p.setDown(false)
	if err := r.Record(t.Context(), &audit.Event{ID: "after", Decision: "allow"}); err != nil {
		t.Fatalf("Record after the database returned: %v", err)
	}
	r.Close()
	direct := open(t, schema)
	evs, err := direct.Query(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := idsOf(evs); got != "before,after" {
		t.Errorf("stored %s; want before,after", got)
	}
	if _, err := audit.Verify(t.Context(), direct, key.Public()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// TestOutageSpoolReplay: with the database unreachable and a spool, Records
// succeed; when it is back, the spooled events are stored in order, before
// newer ones, and the store verifies.
func TestOutageSpoolReplay(t *testing.T) {
	via, p := viaProxy(t)
	schema := newSchema(t)
	sink, err := postgres.Open(t.Context(), postgres.Config{DSN: via, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	key := audittest.Key(t)
	r, err := audit.NewRecorder(audit.Config{Sink: sink, Signer: key, OnUnavailable: audit.Spool, SpoolDir: t.TempDir(),
		WriteTimeout: 3 * time.Second, RetryInterval: time.Hour}) // replay at Close, deterministically
	if err != nil {
		t.Fatal(err)
	}
	record := func(id string) {
		t.Helper()
		if err := r.Record(t.Context(), &audit.Event{ID: id, Decision: "allow"}); err != nil {
			t.Fatalf("Record(%s) = %v", id, err)
		}
	}
	record("a")
	p.setDown(true)
	record("b")
	record("c")
	p.setDown(false)
	record("d") // behind the spooled ones
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	direct := open(t, schema)
	evs, err := direct.Query(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := idsOf(evs); got != "a,b,c,d" {
		t.Errorf("stored %s; want a,b,c,d", got)
	}
	if _, err := audit.Verify(t.Context(), direct, key.Public()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func idsOf(evs []audit.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.ID)
	}
	return strings.Join(s, ",")
}
