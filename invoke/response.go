package invoke

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Limits on the headers a function may set.
const (
	// MaxResponseHeaderValueBytes is the longest header value (or cookie)
	// passed on; a longer one is dropped like any other malformed header.
	MaxResponseHeaderValueBytes = 8 << 10
	// MaxResponseHeaderBytes bounds all headers and cookies of one
	// response together; a response over it is refused (502) rather than
	// sent with some of its headers missing.
	MaxResponseHeaderBytes = 64 << 10
)

// responseNotCopied are response headers a function never sets: the
// connection-level ones (RFC 9110 §7.6.1) and Content-Length, which is
// computed from the body.
var responseNotCopied = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true, "content-length": true,
}

// WriteResponse maps a function's response payload to the HTTP response,
// following API Gateway's rules for payload format 2.0, and returns the
// status written.
//
// A JSON object with a statusCode member is a structured response:
// statusCode (200 to 599), headers (values strings, numbers or booleans),
// multiValueHeaders, cookies (one Set-Cookie each), body and
// isBase64Encoded. Any other valid JSON value takes the shortcut: status
// 200, Content-Type application/json, and the payload itself as the body.
// Hop-by-hop headers, Content-Length and malformed or over-long headers are
// dropped; a header already set on w (by the gateway, such as
// X-Request-Id) is never replaced. A structured response without a
// Content-Type gets one from its body (application/json, text/plain or
// application/octet-stream), so nothing is left to content sniffing.
//
// If the payload is not a valid response, WriteResponse writes nothing and
// returns an *Error with Status 502 (CodeBadResponse). An error writing the
// body after the status was sent is returned as is, with the status.
func WriteResponse(w http.ResponseWriter, payload []byte) (int, error) {
	resp, err := parseResponse(payload)
	if err != nil {
		return 0, newError(http.StatusBadGateway, CodeBadResponse, "the function returned an invalid response", err)
	}
	h := w.Header()
	preset := map[string]bool{}
	for name := range h {
		preset[strings.ToLower(name)] = true
	}
	for _, f := range resp.headers {
		if preset[strings.ToLower(f.name)] {
			continue
		}
		h.Add(f.name, f.value)
	}
	if len(resp.body) > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", contentTypeOf(resp.body))
	}
	if !bodyAllowed(resp.status) {
		w.WriteHeader(resp.status)
		return resp.status, nil
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	if _, err := w.Write(resp.body); err != nil {
		return resp.status, fmt.Errorf("invoke: writing the response body: %w", err)
	}
	return resp.status, nil
}

type headerField struct{ name, value string }

type response struct {
	status  int
	headers []headerField // in order, Set-Cookie from cookies last
	body    []byte
}

// parseResponse checks the payload completely before anything is written.
func parseResponse(payload []byte) (*response, error) {
	payload = bytes.TrimSpace(payload)
	if !jsontext.Value(payload).IsValid() {
		return nil, errors.New("the payload is not valid JSON")
	}
	var members map[string]jsontext.Value
	if payload[0] == '{' {
		if err := json.Unmarshal(payload, &members); err != nil {
			return nil, err
		}
	}
	if _, ok := members["statusCode"]; !ok {
		// The plain-JSON shortcut.
		return &response{
			status:  http.StatusOK,
			headers: []headerField{{"Content-Type", "application/json"}},
			body:    payload,
		}, nil
	}
	var (
		r     response
		multi map[string][]string
		hdrs  map[string]jsontext.Value
		cooks []string
		body  string
		b64   bool
	)
	for _, m := range []struct {
		name string
		dst  any
	}{
		{"statusCode", &r.status}, {"headers", &hdrs}, {"multiValueHeaders", &multi},
		{"cookies", &cooks}, {"body", &body}, {"isBase64Encoded", &b64},
	} {
		v, ok := members[m.name]
		if !ok || v.Kind() == 'n' { // absent or null
			continue
		}
		if err := json.Unmarshal(v, m.dst); err != nil {
			return nil, fmt.Errorf("member %s: %w", m.name, err)
		}
	}
	if r.status < 200 || r.status > 599 {
		return nil, fmt.Errorf("statusCode %d is not a final HTTP status", r.status)
	}
	if b64 {
		dec, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, fmt.Errorf("body: isBase64Encoded but not base64: %w", err)
		}
		r.body = dec
	} else {
		r.body = []byte(body)
	}

	connection := map[string]bool{}
	for name, v := range hdrs {
		if strings.EqualFold(name, "Connection") {
			s, _ := headerText(v)
			for n := range strings.SplitSeq(s, ",") {
				connection[strings.ToLower(strings.TrimSpace(n))] = true
			}
		}
	}
	keep := func(name, value string) bool {
		lower := strings.ToLower(name)
		return validHeaderName(name) && validHeaderValue(value) &&
			!responseNotCopied[lower] && !connection[lower]
	}
	size := 0
	add := func(name, value string) error {
		if !keep(name, value) {
			return nil
		}
		size += len(name) + len(value) + 4
		if size > MaxResponseHeaderBytes {
			return fmt.Errorf("headers exceed %d bytes", MaxResponseHeaderBytes)
		}
		r.headers = append(r.headers, headerField{http.CanonicalHeaderKey(name), value})
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(hdrs)) {
		value, ok := headerText(hdrs[name])
		if !ok {
			continue
		}
		if err := add(name, value); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(multi)) {
		for _, value := range multi[name] {
			if err := add(name, value); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range cooks {
		if err := add("Set-Cookie", c); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// headerText reads a header value given as a JSON string, number or
// boolean.
func headerText(v jsontext.Value) (string, bool) {
	switch v.Kind() {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case '0', 't', 'f':
		return string(v), true
	}
	return "", false
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 || c <= ' ' || c == 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether value can be sent as a field value: no
// control characters but tab, and not over the size cap.
func validHeaderValue(value string) bool {
	if len(value) > MaxResponseHeaderValueBytes {
		return false
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// contentTypeOf labels a body the function did not label, never as
// something a browser would render as active content.
func contentTypeOf(body []byte) string {
	switch {
	case jsontext.Value(body).IsValid():
		return "application/json"
	case utf8.Valid(body):
		return "text/plain; charset=utf-8"
	default:
		return "application/octet-stream"
	}
}

// bodyAllowed reports whether a response with this status may have a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}
