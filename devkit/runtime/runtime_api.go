package runtime

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Runtime API (version 2018-06-01) an instance's runtime calls at
// http://$AWS_LAMBDA_RUNTIME_API.
const (
	pathNext        = "/2018-06-01/runtime/invocation/next"
	pathInitError   = "/2018-06-01/runtime/init/error"
	prefixInvoke    = "/2018-06-01/runtime/invocation/"
	prefixExtension = "/2020-01-01/extension/"

	hdrRequestID     = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadline      = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN   = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID       = "Lambda-Runtime-Trace-Id"
	hdrClientContext = "Lambda-Runtime-Client-Context"
	hdrErrorType     = "Lambda-Runtime-Function-Error-Type"
	hdrErrorBody     = "Lambda-Runtime-Function-Error-Body"
	hdrResponseMode  = "Lambda-Runtime-Function-Response-Mode"
)

// ServeHTTP serves the instance's Runtime API. Requests that do not fit
// the instance's state get the Runtime API's error body and status.
func (inst *instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			inst.f.h.log.Error("runtime: panic serving the Runtime API", "function", inst.f.name, "instance", inst.id, "panic", fmt.Sprint(v))
			runtimeError(w, http.StatusInternalServerError, "Runtime.Unknown", "Internal error.")
		}
	}()
	p := r.URL.Path
	switch {
	case p == pathNext:
		if r.Method != http.MethodGet {
			runtimeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Use GET.")
			return
		}
		inst.next(w, r)
	case p == pathInitError:
		if r.Method != http.MethodPost {
			runtimeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Use POST.")
			return
		}
		inst.initError(w, r)
	case strings.HasPrefix(p, prefixInvoke):
		id, action, ok := strings.Cut(p[len(prefixInvoke):], "/")
		if !ok || id == "" || (action != "response" && action != "error") {
			runtimeError(w, http.StatusNotFound, "NotFound", "No such Runtime API resource.")
			return
		}
		if r.Method != http.MethodPost {
			runtimeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Use POST.")
			return
		}
		inst.answer(w, r, id, action == "error")
	case strings.HasPrefix(p, prefixExtension):
		runtimeError(w, http.StatusForbidden, "Extension.Unsupported", "The local Lambda host does not support extensions.")
	default:
		runtimeError(w, http.StatusNotFound, "NotFound", "No such Runtime API resource.")
	}
}

// next parks the runtime until an invocation is delivered to the instance
// (GET /next). It also completes the previous invocation: the instance is
// then idle and goes back to the pool.
func (inst *instance) next(w http.ResponseWriter, r *http.Request) {
	f := inst.f
	kill := false
	f.mu.Lock()
	if inst.parked {
		f.mu.Unlock()
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "A request for the next invocation is already waiting.")
		return
	}
	switch inst.state {
	case stateStarting:
		inst.state = stateIdle
		inst.initDuration = time.Since(inst.started)
		close(inst.ready)
		if inst.orphan {
			kill = f.handOffLocked(inst)
		}
	case stateFinishing:
		f.finishing--
		if inv := inst.cur; inv != nil {
			if inv.timer != nil {
				inv.timer.Stop()
			}
			inv.settleLocked()
		}
		inst.cur = nil
		inst.state = stateIdle
		kill = f.handOffLocked(inst)
	case stateIdle:
		// A runtime asking again after its previous request went away.
	case stateBusy:
		f.mu.Unlock()
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "The current invocation has not been answered.")
		return
	default:
		f.mu.Unlock()
		runtimeError(w, http.StatusInternalServerError, "Runtime.ExitError", "The instance is shutting down.")
		return
	}
	inst.parked = !kill
	f.mu.Unlock()
	if kill {
		inst.kill()
		runtimeError(w, http.StatusInternalServerError, "Runtime.ExitError", "The instance is shutting down.")
		return
	}

	select {
	case inv := <-inst.work:
		f.mu.Lock()
		inst.parked = false
		ok := inst.cur == inv && inst.state == stateBusy && !inv.finished
		inv.picked = ok
		first := inst.served == 1
		f.mu.Unlock()
		if !ok {
			runtimeError(w, http.StatusInternalServerError, "Runtime.ExitError", "The instance is shutting down.")
			return
		}
		inst.logs.target(inv, first)
		h := w.Header()
		h[hdrRequestID] = []string{inv.id}
		h[hdrDeadline] = []string{strconv.FormatInt(inv.deadline.UnixMilli(), 10)}
		h[hdrFunctionARN] = []string{f.arn}
		h[hdrTraceID] = []string{inv.traceID}
		if inv.clientContext != "" {
			h[hdrClientContext] = []string{inv.clientContext}
		}
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(inv.payload))}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-inst.dead:
		runtimeError(w, http.StatusInternalServerError, "Runtime.ExitError", "The instance is shutting down.")
	case <-r.Context().Done():
		f.mu.Lock()
		inst.parked = false
		f.mu.Unlock()
	}
}

// answer takes the runtime's response (POST …/{id}/response) or error
// (POST …/{id}/error) for the invocation it is running.
func (inst *instance) answer(w http.ResponseWriter, r *http.Request, id string, isError bool) {
	f := inst.f
	f.mu.Lock()
	inv, st := inst.cur, inst.state
	picked := inv != nil && inv.picked
	f.mu.Unlock()
	switch {
	case st != stateBusy || !picked:
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "No invocation is in progress.")
		return
	case inv.id != id:
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return
	}
	if mode := r.Header.Get(hdrResponseMode); !isError && mode != "" && !strings.EqualFold(mode, "streaming") {
		runtimeError(w, http.StatusBadRequest, "InvalidFunctionResponseMode", "Invalid function response mode.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxSyncPayload+1))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", "The body could not be read.")
		return
	}
	status := http.StatusAccepted
	var o outcome
	switch {
	case len(body) > MaxSyncPayload:
		status = http.StatusRequestEntityTooLarge
		o.fe = &functionError{
			Type:    "Function.ResponseSizeTooLarge",
			Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxSyncPayload),
		}
	case isError:
		o = outcome{payload: errorPayload(body, r.Header.Get(hdrErrorType), "Unhandled"), contentType: "application/json", unhandled: true}
	case r.Trailer.Get(hdrErrorType) != "":
		// A streamed response that failed midway: the error is in the trailers.
		b, _ := base64.StdEncoding.DecodeString(r.Trailer.Get(hdrErrorBody))
		o = outcome{payload: errorPayload(b, r.Trailer.Get(hdrErrorType), "Unhandled"), contentType: "application/json", unhandled: true}
	default:
		o = outcome{payload: body, contentType: r.Header.Get("Content-Type")}
	}

	f.mu.Lock()
	if inst.cur != inv || inst.state != stateBusy {
		f.mu.Unlock() // timed out meanwhile
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "No invocation is in progress.")
		return
	}
	inst.state = stateFinishing
	f.finishing++
	inv.answer = &o
	f.mu.Unlock()

	// The runtime hears back first, so that it asks for the next event while
	// the caller's goroutine is woken; whichever of this, the next /next, a
	// deadline or an exit comes first gives the caller the answer.
	if status == http.StatusRequestEntityTooLarge {
		runtimeError(w, status, "RequestEntityTooLarge", fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", MaxSyncPayload))
	} else {
		w.Header()["Content-Type"] = []string{"application/json"}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	}
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	f.mu.Lock()
	inv.settleLocked()
	f.mu.Unlock()
}

// initError takes a runtime's report that it could not initialise
// (POST /init/error, before its first /next): the callers waiting for the
// instance get the runtime's error body; the instance is killed.
func (inst *instance) initError(w http.ResponseWriter, r *http.Request) {
	f := inst.f
	f.mu.Lock()
	st := inst.state
	f.mu.Unlock()
	if st != stateStarting {
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "Initialization has already ended.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxSyncPayload+1))
	if err != nil || len(body) > MaxSyncPayload {
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The error body is too large.")
		return
	}
	typ := r.Header.Get(hdrErrorType)
	if typ == "" {
		typ = "Runtime.InitError"
	}
	fe := &functionError{Type: typ, Message: "the runtime reported an initialization error", Body: errorPayload(body, typ, typ)}
	f.mu.Lock()
	if inst.state != stateStarting {
		f.mu.Unlock()
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "Initialization has already ended.")
		return
	}
	inst.initErr = fe
	f.retireLocked(inst, outcome{})
	f.mu.Unlock()
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	inst.kill()
}

// errorPayload is the error JSON a caller gets: the runtime's body when it
// is a JSON object, else one built from the error type and the body text.
func errorPayload(body []byte, typ, fallbackType string) []byte {
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return t
	}
	if typ == "" {
		typ = fallbackType
	}
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{truncate(strings.ToValidUTF8(typ, "?"), 256), truncate(strings.ToValidUTF8(string(body), "?"), 1024)})
	return b
}

// runtimeError writes the Runtime API's error body.
func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, typ})
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
