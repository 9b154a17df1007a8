package sts

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Parameter limits from the STS API model (spec §2, §7, §8, §9).
const (
	maxTokenChars       = 20000
	maxPolicyChars      = 2048
	maxPolicyArns       = 10
	maxTags             = 50
	maxTagKeyChars      = 128
	maxTagValueChars    = 256
	minDurationSeconds  = 900
	maxDurationSeconds  = 43200
	defaultDuration     = time.Hour
	roleChainingMaxTime = time.Hour
)

var (
	sessionNamePattern    = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDPattern     = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	tagKeyPattern         = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValuePattern       = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	policyArnPattern      = regexp.MustCompile(`^arn:aws:iam::(aws|[0-9]{12}):policy/[\x21-\x7e]+$`)
	memberIndexPattern    = regexp.MustCompile(`^[1-9][0-9]{0,3}$`)
	policyCharsOutOfRange = func(r rune) bool { return !(r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xff)) }
)

// params are the form parameters of one request, each given once.
type params struct{ v url.Values }

func (p params) get(name string) (string, bool) {
	vals, ok := p.v[name]
	if !ok || len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

func (p params) first(name string) string {
	s, _ := p.get(name)
	return s
}

// validation builds STS's ValidationError message (the field is named as
// the API model names it: camel case).
func validation(field, constraint string) *Error {
	return newError(codeValidationError, "1 validation error detected: Value at '%s' failed to satisfy constraint: %s", field, constraint)
}

// required returns a required string parameter of min to max characters.
func (p params) required(name, field string, min, max int) (string, error) {
	s, ok := p.get(name)
	if !ok {
		return "", validation(field, "Member must not be null")
	}
	if n := utf8.RuneCountInString(s); n < min || n > max || !utf8.ValidString(s) {
		return "", validation(field, "Member must have length between "+strconv.Itoa(min)+" and "+strconv.Itoa(max))
	}
	return s, nil
}

func (p params) sessionName() (string, error) {
	s, err := p.required("RoleSessionName", "roleSessionName", 2, 64)
	if err != nil {
		return "", err
	}
	if !sessionNamePattern.MatchString(s) {
		return "", validation("roleSessionName", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
	}
	return s, nil
}

// duration returns DurationSeconds, or the default when absent.
func (p params) duration() (time.Duration, error) {
	s, ok := p.get("DurationSeconds")
	if !ok {
		return defaultDuration, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.TrimLeft(s, "0123456789") != "" {
		return 0, validation("durationSeconds", "Member must be an integer")
	}
	if n < minDurationSeconds || n > maxDurationSeconds {
		return 0, validation("durationSeconds", "Member must have value between 900 and 43200")
	}
	return time.Duration(n) * time.Second, nil
}

// minTokenSize returns MinimumSessionTokenSize (0 to 4096 bytes), 0 when
// absent.
func (p params) minTokenSize() (int, error) {
	s, ok := p.get("MinimumSessionTokenSize")
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.TrimLeft(s, "0123456789") != "" || n > maxSessionTokenBytes {
		return 0, validation("minimumSessionTokenSize", "Member must be an integer between 0 and 4096")
	}
	return n, nil
}

// checkSourceIdentity checks a source identity (spec §8).
func checkSourceIdentity(s string) string {
	switch {
	case utf8.RuneCountInString(s) < 2 || utf8.RuneCountInString(s) > 64:
		return "source identity must have 2 to 64 characters"
	case !sessionNamePattern.MatchString(s):
		return `source identity must match [\w+=,.@-]*`
	case strings.HasPrefix(strings.ToLower(s), "aws:"):
		return "source identity must not start with aws:"
	}
	return ""
}

// sessionPolicies reads the inline session policy and the managed session
// policy ARNs.
func (p params) sessionPolicies() (policy string, arns []string, err error) {
	if s, ok := p.get("Policy"); ok {
		if n := utf8.RuneCountInString(s); n < 1 || n > maxPolicyChars || !utf8.ValidString(s) {
			return "", nil, validation("policy", "Member must have length between 1 and 2048")
		}
		if strings.ContainsFunc(s, policyCharsOutOfRange) {
			return "", nil, validation("policy", `Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+`)
		}
		if err := validateSessionPolicy(s); err != nil {
			return "", nil, newError(codeMalformedPolicyDocument, "The session policy is malformed: %v", err)
		}
		policy = s
	}
	members, err := p.members("PolicyArns", []string{"arn"}, maxPolicyArns, "policyArns")
	if err != nil {
		return "", nil, err
	}
	for _, m := range members {
		a := m["arn"]
		if len(a) < 20 || len(a) > 2048 {
			return "", nil, validation("policyArns.member.arn", "Member must have length between 20 and 2048")
		}
		if !policyArnPattern.MatchString(a) {
			return "", nil, newError(codeInvalidParameterValue, "PolicyArns: %s is not an IAM policy ARN", safeEcho(a))
		}
		arns = append(arns, a)
	}
	return policy, arns, nil
}

// members reads a Query-protocol list: prefix.member.N (fields nil) or
// prefix.member.N.field, N from 1 without gaps, at most max members. An
// empty list may be sent as "prefix=".
func (p params) members(prefix string, fields []string, max int, field string) ([]map[string]string, error) {
	byIndex := map[int]map[string]string{}
	for k, vals := range p.v {
		if k == prefix {
			if vals[0] != "" {
				return nil, validation(field, "Member must be a list")
			}
			continue
		}
		rest, ok := strings.CutPrefix(k, prefix+".member.")
		if !ok {
			continue
		}
		idx, name, _ := strings.Cut(rest, ".")
		if !memberIndexPattern.MatchString(idx) {
			return nil, validation(field, "Member index must be a positive integer")
		}
		if (fields == nil && name != "") || (fields != nil && !slices.Contains(fields, name)) {
			return nil, validation(field, "Member has no field "+safeEcho(name))
		}
		n, _ := strconv.Atoi(idx)
		if n > max {
			return nil, validation(field, "Member must have length less than or equal to "+strconv.Itoa(max))
		}
		if byIndex[n] == nil {
			byIndex[n] = map[string]string{}
		}
		byIndex[n][name] = vals[0]
	}
	out := make([]map[string]string, len(byIndex))
	for n, m := range byIndex {
		if n > len(byIndex) {
			return nil, validation(field, "Member indexes must run from 1 without gaps")
		}
		out[n-1] = m
	}
	return out, nil
}

// tag is one session tag, in the order given.
type tag struct{ key, value string }

// checkTags applies the session-tag rules (spec §7) to tags and the keys
// marked transitive, and returns them as Session fields. It returns a
// message naming the broken rule, "" when all hold.
func checkTags(tags []tag, transitive []string) (map[string]string, []string, string) {
	if len(tags) > maxTags {
		return nil, nil, "at most 50 session tags are allowed"
	}
	seen := map[string]string{} // lower-case key -> key as given
	var out map[string]string
	for _, t := range tags {
		switch {
		case utf8.RuneCountInString(t.key) < 1 || utf8.RuneCountInString(t.key) > maxTagKeyChars || !tagKeyPattern.MatchString(t.key):
			return nil, nil, "tag keys must have 1 to 128 characters of letters, digits, spaces and _.:/=+-@"
		case utf8.RuneCountInString(t.value) > maxTagValueChars || !tagValuePattern.MatchString(t.value):
			return nil, nil, "tag values must have at most 256 characters of letters, digits, spaces and _.:/=+-@"
		case strings.HasPrefix(strings.ToLower(t.key), "aws:"):
			return nil, nil, "tag keys must not start with aws:"
		}
		lk := strings.ToLower(t.key)
		if _, dup := seen[lk]; dup {
			return nil, nil, "tag keys must be unique (case-insensitively)"
		}
		seen[lk] = t.key
		if out == nil {
			out = map[string]string{}
		}
		out[t.key] = t.value
	}
	if len(transitive) > maxTags {
		return nil, nil, "at most 50 transitive tag keys are allowed"
	}
	var keys []string
	for _, k := range transitive {
		given, ok := seen[strings.ToLower(k)]
		if !ok {
			return nil, nil, "transitive tag keys must be keys of the session tags"
		}
		if !slices.Contains(keys, given) {
			keys = append(keys, given)
		}
	}
	return out, keys, ""
}

// packedBytes is the size of the session policies and tags packed
// (compressed) together, as STS packs them into the session token.
func packedBytes(policy string, arns []string, tags map[string]string, transitive []string) int {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	if policy != "" {
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(policy)) == nil {
			_, _ = fw.Write(compact.Bytes())
		} else {
			_, _ = fw.Write([]byte(policy))
		}
	}
	for _, a := range arns {
		_, _ = fw.Write([]byte("\x00" + a))
	}
	for _, k := range sortedKeys(tags) {
		_, _ = fw.Write([]byte("\x00" + k + "\x00" + tags[k]))
	}
	for _, k := range transitive {
		_, _ = fw.Write([]byte("\x00" + k))
	}
	_ = fw.Close()
	return buf.Len()
}
