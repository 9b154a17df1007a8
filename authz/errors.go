package authz

import (
	"errors"
	"fmt"
	"strings"
)

// Problem is one thing wrong with a Config. New and Reload return every
// problem they find, joined with errors.Join; Problems lists them.
type Problem struct {
	// File is the PolicyFile's name for a problem in a raw Cedar file; ""
	// otherwise.
	File string
	// Line and Column (1-based) locate the problem in File; 0 when unknown.
	Line, Column int
	// Field is the path of the field in Config, such as
	// "rules[2].groups[0].id" or "policies[1]".
	Field string
	// Msg says what is wrong, naming the rule, role or agent, and what is
	// expected.
	Msg string
}

// Error formats p as "file:line:col: field: msg", leaving out the parts that
// are unknown.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems returns the problems in err, as returned by New or Reload, in
// order; nil if err holds none.
func Problems(err error) []*Problem {
	var out []*Problem
	var walk func(error)
	walk = func(err error) {
		var p *Problem
		switch e := err.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				walk(err)
			}
		default:
			if errors.As(err, &p) {
				out = append(out, p)
			}
		}
	}
	walk(err)
	return out
}

// Error is a policy denial, returned by Decision.Err. Error() is for the
// log and the audit trail; Public is the text meant for the caller.
type Error struct {
	// Reason says why the request was denied (Decision.Reason). It names
	// rules, roles and resources: for the log, not for the caller.
	Reason string
	// Policies are the ids of the forbid policies that decided, if any.
	Policies []string
	// GroupOverage reports that the principal's group membership was
	// unknown and a group rule was involved.
	GroupOverage bool
}

func (e *Error) Error() string { return "authz: denied: " + e.Reason }

// StatusCode is the HTTP status of a denial: 403 Forbidden.
func (e *Error) StatusCode() int { return 403 }

// Public is a description safe to return to the caller: it names no rule,
// role or resource. Group overage is said, because the caller can act on it
// (for example by asking for a token with fewer groups).
func (e *Error) Public() string {
	if e.GroupOverage {
		return "access denied by policy: group membership is not in the token (group overage)"
	}
	return "access denied by policy"
}
