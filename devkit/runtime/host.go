package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Host is a running local Lambda host. Instances start on demand and live
// until they fail, go stale (rebuilt package, expiring credentials) or
// Close.
type Host struct {
	region, account string
	funcs           map[string]*function
	auth            Authenticator
	credentials     func(ctx context.Context, roleARN, sessionName string) (aws.Credentials, error)
	now             func() time.Time
	log             *slog.Logger
	stateDir        string
	handler         http.Handler

	// ctx ends at Close: async workers and builds run under it.
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool
	// mu orders Close against track, so no goroutine starts after Close
	// began waiting.
	mu sync.Mutex
	// wg counts instance watchers, log readers and async workers.
	wg sync.WaitGroup
}

// InvokeOptions are the per-call parameters of Invoke, as the Invoke API
// carries them in headers and the query.
type InvokeOptions struct {
	// InvocationType is "RequestResponse" ("" means it), "Event" (queued,
	// answered 202 at once) or "DryRun" (checks only, answered 204).
	InvocationType string
	// Qualifier is "" or "$LATEST", the only version this host has.
	Qualifier string
	// Tail asks for the last 4 KB of the invocation's log, base64, in
	// Result.LogResult (RequestResponse only).
	Tail bool
	// ClientContext is the client context, a JSON object (already
	// base64-decoded), delivered as Lambda-Runtime-Client-Context; "" means
	// none.
	ClientContext string
	// TraceID is the X-Ray trace header delivered as Lambda-Runtime-Trace-Id;
	// "" means a new root.
	TraceID string
	// RequestID is the invocation's request id; "" means a new UUID.
	RequestID string
}

// Result is how an invocation ended, as the Invoke API answers it.
type Result struct {
	// StatusCode is 200 (RequestResponse, also when the function failed),
	// 202 (Event) or 204 (DryRun).
	StatusCode int
	// RequestID is the invocation's request id (x-amzn-RequestId, and the
	// function's AwsRequestID).
	RequestID string
	// Payload is the function's response, or with FunctionError its error
	// JSON ({"errorType":…,"errorMessage":…}).
	Payload []byte
	// ContentType is the response's content type as the runtime gave it.
	ContentType string
	// FunctionError is "Unhandled" when the function failed: it returned an
	// error, timed out ("Sandbox.Timedout"), crashed ("Runtime.ExitError"),
	// failed to initialise, or could not be built.
	FunctionError string
	// LogResult is base64 of the last 4 KB of the invocation's log, when
	// InvokeOptions.Tail asked for it.
	LogResult string
	// ExecutedVersion is "$LATEST" for RequestResponse.
	ExecutedVersion string
}

const (
	typeRequestResponse = "RequestResponse"
	typeEvent           = "Event"
	typeDryRun          = "DryRun"
	latest              = "$LATEST"
	// maxClientContext bounds the decoded client context (Lambda bounds the
	// base64 form to 3583 bytes).
	maxClientContext = 3583
)

// New validates the configuration (every problem reported together) and
// returns a host that has started nothing: Start builds packages, and
// instances start when invoked.
func New(cfg Config) (*Host, error) {
	region, account, fns, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	h := &Host{
		region:      region,
		account:     account,
		funcs:       map[string]*function{},
		auth:        cfg.STS,
		credentials: cfg.Credentials,
		now:         cfg.Now,
		log:         cfg.Logger,
		stateDir:    cfg.StateDir,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.stateDir != "" {
		if h.stateDir, err = filepath.Abs(h.stateDir); err != nil {
			return nil, fmt.Errorf("runtime: StateDir: %w", err)
		}
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for _, s := range fns {
		h.funcs[s.Name] = newFunction(h, s)
	}
	if h.auth == nil {
		h.log.Warn("runtime: no STS configured: the Invoke API refuses every request")
	}
	h.handler = h.newHandler()
	return h, nil
}

// Start builds the functions' Go packages (concurrently) and checks that
// the executables exist. It starts no instance. An error names every
// function that failed; the host stays usable, and a failed package is
// built again on its next invocation.
func (h *Host) Start(ctx context.Context) error {
	if h.closed.Load() {
		return hostClosed()
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, f := range h.funcs {
		wg.Go(func() {
			var err error
			if f.src != nil {
				err = f.ensureBuilt(ctx)
			} else {
				err = checkExecutable(f.cfg.Executable)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("function %s: %w", f.name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runtime: start:\n%w", err)
	}
	return nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Close kills every instance, answers waiting and later invocations with
// ServiceException, and waits (up to 10 s) for the processes to be reaped.
// It may be called more than once.
func (h *Host) Close() error {
	h.mu.Lock()
	first := h.closed.CompareAndSwap(false, true)
	h.mu.Unlock()
	if !first {
		return nil
	}
	h.cancel()
	for _, f := range h.funcs {
		f.close()
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return errors.New("runtime: close: function processes still running after 10s")
	}
}

// track counts n goroutines about to start in h.wg; false means the host
// is closed and they must not start.
func (h *Host) track(n int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return false
	}
	h.wg.Add(n)
	return true
}

// Invoke invokes a function in process, without authentication (the
// Invoke API authenticates and authorizes, then calls it). name is a
// function name, name:qualifier, a partial ARN (account:function:name) or a
// full ARN of this host's region and account.
//
// Refusals are *Error (ResourceNotFoundException, TooManyRequestsException,
// RequestTooLargeException, InvalidRequestContentException,
// InvalidParameterValueException, ServiceException); a function's failure is
// a Result with FunctionError set, never an error. If ctx ends while the
// function runs, Invoke returns ctx.Err() and the invocation runs on to its
// end or timeout, as in Lambda.
func (h *Host) Invoke(ctx context.Context, name string, payload []byte, opts InvokeOptions) (*Result, error) {
	if h.closed.Load() {
		return nil, hostClosed()
	}
	ref, e := h.parseFunctionName(name, opts.Qualifier)
	if e != nil {
		return nil, e
	}
	f := h.funcs[ref.name]
	if f == nil {
		return nil, notFound(ref.resource)
	}
	return f.invoke(ctx, payload, opts)
}

func (f *function) invoke(ctx context.Context, payload []byte, opts InvokeOptions) (*Result, error) {
	typ := opts.InvocationType
	if typ == "" {
		typ = typeRequestResponse
	}
	limit := MaxSyncPayload
	switch typ {
	case typeRequestResponse, typeDryRun:
	case typeEvent:
		limit = MaxAsyncPayload
	default:
		return nil, newError(CodeInvalidParameterValue, "Unsupported invocation type: %s", safeEcho(typ))
	}
	if len(payload) > limit {
		return nil, newError(CodeRequestTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", limit)
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	} else if !json.Valid(payload) {
		return nil, newError(CodeInvalidRequestContent, "Could not parse request body into json: the payload is not valid JSON")
	}
	if opts.ClientContext != "" {
		cc, err := compactObject(opts.ClientContext)
		if err != nil || len(cc) > maxClientContext {
			return nil, newError(CodeInvalidParameterValue, "Client context must be a valid Base64-encoded JSON object.")
		}
		opts.ClientContext = cc
	}
	if opts.TraceID != "" && !validTraceID(opts.TraceID) {
		return nil, newError(CodeInvalidParameterValue, "The trace header is not valid.")
	}
	id := opts.RequestID
	if id == "" {
		id = newRequestID()
	}
	switch typ {
	case typeDryRun:
		return &Result{StatusCode: http.StatusNoContent, RequestID: id}, nil
	case typeEvent:
		if err := f.enqueue(&asyncEvent{id: id, payload: payload, opts: opts}); err != nil {
			return nil, err
		}
		f.h.log.Info("runtime: event queued", "function", f.name, "request_id", id, "payload_bytes", len(payload))
		return &Result{StatusCode: http.StatusAccepted, RequestID: id}, nil
	}
	return f.invokeSync(ctx, id, payload, opts)
}

// invokeSync runs one RequestResponse invocation: build check, an
// instance, the Runtime API exchange, the log tail.
func (f *function) invokeSync(ctx context.Context, id string, payload []byte, opts InvokeOptions) (*Result, error) {
	h := f.h
	start := h.now()
	var tail *tailBuffer
	if opts.Tail {
		tail = &tailBuffer{}
		fmt.Fprintf(tail, "START RequestId: %s Version: %s\n", id, latest)
	}
	res := &Result{StatusCode: http.StatusOK, RequestID: id, ExecutedVersion: latest}
	var (
		o            outcome
		inst         *instance
		initDuration time.Duration
	)
	if opts.TraceID == "" {
		opts.TraceID = newTraceID(h.now())
	}
	for attempt := 1; ; attempt++ {
		inv := newInvocation(id, payload, opts, tail)
		inst, o = f.dispatch(ctx, inv)
		if o.fe != nil && inst == nil && tail != nil {
			_, _ = tail.Write(o.fe.log) // the output of an instance that failed to start
		}
		if !o.retry {
			initDuration = f.initDurationOf(inv)
			break
		}
		if attempt == 3 {
			o = outcome{err: newError(CodeService, "The function's instances exited before accepting the invocation.")}
			break
		}
	}
	if o.err != nil {
		f.logInvocation(id, start, len(payload), nil, "", o.err)
		return nil, o.err
	}
	if o.fe != nil {
		res.Payload, res.FunctionError = o.fe.payload(id), "Unhandled"
		res.ContentType = "application/json"
	} else {
		res.Payload, res.ContentType = o.payload, o.contentType
		if o.unhandled {
			res.FunctionError = "Unhandled"
		}
	}
	if tail != nil {
		if inst != nil {
			inst.flushLogs()
		}
		d := h.now().Sub(start)
		fmt.Fprintf(tail, "END RequestId: %s\n", id)
		fmt.Fprintf(tail, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\t",
			id, float64(d.Microseconds())/1000, (d+time.Millisecond-1)/time.Millisecond, f.cfg.MemoryMB)
		if initDuration > 0 {
			fmt.Fprintf(tail, "Init Duration: %.2f ms\t", float64(initDuration.Microseconds())/1000)
		}
		fmt.Fprintf(tail, "\n")
		res.LogResult = base64.StdEncoding.EncodeToString(tail.last())
	}
	f.logInvocation(id, start, len(payload), res, o.kind(), nil)
	return res, nil
}

// initDurationOf is the init time of the instance inv ran on, if inv was
// its first invocation.
func (f *function) initDurationOf(inv *invocation) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return inv.initDuration
}

// logInvocation writes one record per invocation: sizes and outcome,
// never payloads.
func (f *function) logInvocation(id string, start time.Time, in int, res *Result, kind string, err error) {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("function", f.name),
		slog.String("request_id", id),
		slog.Float64("duration_ms", float64(f.h.now().Sub(start).Microseconds())/1000),
		slog.Int("payload_bytes", in))
	ctx := context.Background()
	if err != nil {
		e := asError(err)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			f.h.log.LogAttrs(ctx, slog.LevelInfo, "runtime: invocation abandoned by its caller", append(attrs, slog.String("error", err.Error()))...)
			return
		}
		f.h.log.LogAttrs(ctx, slog.LevelWarn, "runtime: invocation refused", append(attrs, slog.String("code", e.Code), slog.String("error", e.Error()))...)
		return
	}
	attrs = append(attrs, slog.Int("response_bytes", len(res.Payload)), slog.String("outcome", kind))
	if res.FunctionError != "" {
		attrs = append(attrs, slog.String("error_type", errorType(res.Payload)))
		f.h.log.LogAttrs(ctx, slog.LevelWarn, "runtime: invocation failed", attrs...)
		return
	}
	f.h.log.LogAttrs(ctx, slog.LevelInfo, "runtime: invocation", attrs...)
}

// errorType reads errorType from a function's error JSON, for the log.
func errorType(payload []byte) string {
	if len(payload) > 64<<10 {
		return ""
	}
	var v struct {
		ErrorType string `json:"errorType"`
	}
	_ = json.Unmarshal(payload, &v)
	return truncate(v.ErrorType, 128)
}

func compactObject(s string) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return "", err
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return "", errors.New("not a JSON object")
	}
	return buf.String(), nil
}

// validTraceID: printable ASCII without spaces, at most 256 bytes, so it
// can be a header value.
func validTraceID(s string) bool {
	if len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// newRequestID returns a random UUID (version 4), Lambda's request id form.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// newTraceID returns an X-Ray trace header with a new root, not sampled.
func newTraceID(now time.Time) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return "Root=1-" + strconv.FormatInt(now.Unix(), 16) + "-" + hex.EncodeToString(b[:12]) +
		";Parent=" + hex.EncodeToString(b[12:]) + ";Sampled=0"
}

// safeEcho bounds and sanitises a caller-supplied value for a message.
func safeEcho(s string) string {
	s = truncate(s, 64)
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
