package sts

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	// maxSkew is how far X-Amz-Date may be from the clock, either way.
	maxSkew = 5 * time.Minute
)

// Authenticate checks the SigV4 signature of a request made with
// credentials this STS issued, for service ("sts", "lambda", ...) in the
// configured region, and returns a copy of the session. body is the whole
// request body, as read by the caller (who bounds its size).
//
// The checks, in order: an Authorization header of the AWS4-HMAC-SHA256
// scheme with one Credential, SignedHeaders and Signature; a known access
// key id; the X-Amz-Security-Token of that session (compared in constant
// time); the credential scope (date of X-Amz-Date, region, service,
// aws4_request); the signature, recomputed with the AWS SDK's v4 signer over
// the same method, path, query, signed headers and body hash and compared in
// constant time (a request signing other headers than the SDK would is
// refused); the session's expiry; X-Amz-Date within 5 minutes of the clock.
// Failures are *Error with one of the Code* constants. Presigned (query
// string) requests are not accepted.
func (s *Server) Authenticate(r *http.Request, body []byte, service string) (*Session, error) {
	auth, err := parseAuthorization(r.Header.Values("Authorization"))
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess := s.sessions.get(auth.accessKeyID, now)
	if sess == nil {
		return nil, newError(CodeInvalidClientTokenID, "The security token included in the request is invalid.").withCause(errors.New("unknown access key id"))
	}
	tokens := r.Header.Values("X-Amz-Security-Token")
	if len(tokens) != 1 || subtle.ConstantTimeCompare([]byte(tokens[0]), []byte(sess.SessionToken)) != 1 {
		return nil, newError(CodeInvalidClientTokenID, "The security token included in the request is invalid.").withCause(errors.New("session token missing or not the access key's"))
	}
	dates := r.Header.Values("X-Amz-Date")
	if len(dates) != 1 {
		return nil, newError(CodeIncompleteSignature, "The request must carry one X-Amz-Date header.")
	}
	signedAt, err := time.Parse(amzDateFormat, dates[0])
	if err != nil {
		return nil, newError(CodeIncompleteSignature, "X-Amz-Date must have the form YYYYMMDD'T'HHMMSS'Z'.")
	}
	switch {
	case auth.date != dates[0][:8]:
		return nil, newError(CodeSignatureDoesNotMatch, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.")
	case auth.region != s.region:
		return nil, newError(CodeSignatureDoesNotMatch, "Credential should be scoped to a valid region.")
	case auth.service != service:
		return nil, newError(CodeSignatureDoesNotMatch, "Credential should be scoped to correct service: '%s'.", service)
	case auth.terminator != "aws4_request":
		return nil, newError(CodeSignatureDoesNotMatch, "Credential should be scoped with a valid terminator: 'aws4_request'.")
	}
	want, err := s.signature(r, body, auth, sess, service, signedAt)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(auth.signature), []byte(want)) != 1 {
		return nil, newError(CodeSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	if !now.Before(sess.Expiration) {
		return nil, newError(CodeExpiredToken, "The security token included in the request is expired")
	}
	if signedAt.Before(now.Add(-maxSkew)) {
		return nil, newError(CodeSignatureDoesNotMatch, "Signature expired: %s is now earlier than %s (%s - 5 min.)",
			dates[0], now.Add(-maxSkew).UTC().Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}
	if signedAt.After(now.Add(maxSkew)) {
		return nil, newError(CodeSignatureDoesNotMatch, "Signature not yet current: %s is still later than %s (%s + 5 min.)",
			dates[0], now.Add(maxSkew).UTC().Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}
	return sess.clone(), nil
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID, date, region, service, terminator string
	signedHeaders                                  string // as sent: lower case, sorted, ';'-separated
	signature                                      string
}

func parseAuthorization(values []string) (*authorization, error) {
	if len(values) == 0 {
		return nil, newError(CodeMissingAuthenticationToken, "Request is missing Authentication Token")
	}
	incomplete := func(msg string) error { return newError(CodeIncompleteSignature, "%s", msg) }
	if len(values) > 1 {
		return nil, incomplete("The request must carry one Authorization header.")
	}
	scheme, rest, _ := strings.Cut(values[0], " ")
	if scheme != sigV4Algorithm {
		return nil, incomplete("Unsupported authorization type: only AWS4-HMAC-SHA256 is accepted.")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return nil, incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
		}
		if _, dup := fields[k]; dup {
			return nil, incomplete("Authorization header names a parameter twice.")
		}
		fields[k] = v
	}
	if len(fields) != 3 || fields["Credential"] == "" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return nil, incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[0] == "" || len(cred[1]) != 8 {
		return nil, incomplete("Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request.")
	}
	return &authorization{
		accessKeyID: cred[0], date: cred[1], region: cred[2], service: cred[3], terminator: cred[4],
		signedHeaders: fields["SignedHeaders"],
		signature:     fields["Signature"],
	}, nil
}

// signature recomputes the request's signature with the SDK's signer: a
// copy of the request carrying only the headers the caller signed is signed
// with the session's credentials at the caller's X-Amz-Date. If the signer
// would sign a different set of headers than the caller did, the request is
// refused rather than half-checked.
func (s *Server) signature(r *http.Request, body []byte, auth *authorization, sess *Session, service string, signedAt time.Time) (string, error) {
	mismatch := newError(CodeSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	req := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: scheme, Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Host:   host,
		Header: http.Header{},
	}
	for name := range strings.SplitSeq(auth.signedHeaders, ";") {
		switch name {
		case "host":
		case "content-length":
			n, err := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
			if err != nil && r.ContentLength >= 0 {
				n, err = r.ContentLength, nil
			}
			if err != nil || n != int64(len(body)) {
				return "", mismatch.withCause(errors.New("signed content-length does not match the body"))
			}
			req.ContentLength = n
		default:
			vals := r.Header.Values(name)
			if len(vals) == 0 || name != strings.ToLower(name) {
				return "", mismatch.withCause(errors.New("a signed header is missing or not in lower case"))
			}
			req.Header[http.CanonicalHeaderKey(name)] = append([]string(nil), vals...)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: sess.AccessKeyID, SecretAccessKey: sess.SecretAccessKey, SessionToken: sess.SessionToken}
	if err := s.signer.SignHTTP(r.Context(), creds, req, hex.EncodeToString(sum[:]), service, s.region, signedAt); err != nil {
		return "", mismatch.withCause(err)
	}
	ours, err := parseAuthorization(req.Header.Values("Authorization"))
	if err != nil {
		return "", mismatch.withCause(errors.New("signer produced no authorization"))
	}
	if ours.signedHeaders != auth.signedHeaders {
		return "", mismatch.withCause(errors.New("signed headers differ from what the SDK signer signs: " + ours.signedHeaders))
	}
	return ours.signature, nil
}
