package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration. Parse, Load and Validate
// return every problem they find, joined with errors.Join in file order; use
// errors.As for the first or Problems for all.
type Problem struct {
	// File is the name given to Parse or Load; "" for a File that was not
	// parsed.
	File string
	// Line and Column (1-based) locate the field in File; 0 when unknown,
	// as for a required field that is absent from the file.
	Line, Column int
	// Field is the path of the field, such as authn.issuers[0].audiences;
	// "" for a problem of the file as a whole, such as a syntax error.
	Field string
	// Msg says what is wrong and what is expected.
	Msg string
}

// Error formats p as "file:line:col: field: msg", leaving out the parts
// that are unknown.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Column)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems returns the problems in err, as returned by Parse, Load or
// Validate, in order; nil if err holds none.
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

// joinProblems returns the problems as one error in file order; problems
// without a line (absent fields) come first.
func joinProblems(ps []*Problem) error {
	slices.SortStableFunc(ps, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}
