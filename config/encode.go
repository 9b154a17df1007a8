package config

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// Marshal returns f as YAML that Parse reads back as f: block style, fields
// in declaration order, empty optional fields left out, durations in their
// shortest form ("1h", "1m30s"), strings plain where that reads back as the
// same string and double-quoted otherwise. For a File from Parse or Default
// it is the effective configuration, defaults and secrets included.
//
// It walks the Go types as the decoder does, rather than using the YAML
// library's encoder, whose quoting misses some strings (a leading "? ", a
// no-break space) and which indents custom-marshalled map keys wrongly.
func (f *File) Marshal() ([]byte, error) {
	var e encoder
	e.fields(&e.b, reflect.ValueOf(f).Elem(), 0)
	if e.err != nil {
		return nil, e.err
	}
	return e.b.Bytes(), nil
}

type encoder struct {
	b   bytes.Buffer
	err error // the first value of a type it cannot write
}

// fields writes the fields of a struct, or the entries of a map, one
// per line at indent.
func (e *encoder) fields(b *bytes.Buffer, v reflect.Value, indent int) {
	pad := strings.Repeat(" ", indent)
	if v.Kind() == reflect.Map {
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			b.WriteString(pad + scalar(k.String()) + ":")
			e.value(b, v.MapIndex(k), indent)
		}
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		key, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if opts == "omitempty" && isEmpty(fv) {
			continue
		}
		b.WriteString(pad + key + ":")
		e.value(b, fv, indent)
	}
}

// value writes the value of a field or map entry whose key, at
// indent, is already written.
func (e *encoder) value(b *bytes.Buffer, v reflect.Value, indent int) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			b.WriteString(" null\n")
			return
		}
		v = v.Elem()
	}
	switch {
	case v.Kind() == reflect.Slice && v.Len() == 0:
		b.WriteString(" []\n")
	case v.Kind() == reflect.Slice:
		b.WriteString("\n")
		pad := strings.Repeat(" ", indent+2)
		for i := range v.Len() {
			item := v.Index(i)
			if item.Kind() != reflect.Struct && item.Kind() != reflect.Map {
				b.WriteString(pad + "- " + e.scalarOf(item) + "\n")
				continue
			}
			// The item's fields at indent+4, the first on the "- " line.
			var sub bytes.Buffer
			e.fields(&sub, item, indent+4)
			if sub.Len() == 0 {
				b.WriteString(pad + "- {}\n")
				continue
			}
			b.WriteString(pad + "- ")
			b.Write(sub.Bytes()[indent+4:])
		}
	case v.Kind() == reflect.Struct || v.Kind() == reflect.Map:
		var sub bytes.Buffer
		e.fields(&sub, v, indent+2)
		if sub.Len() == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteString("\n")
		b.Write(sub.Bytes())
	default:
		b.WriteString(" " + e.scalarOf(v) + "\n")
	}
}

// isEmpty reports whether an omitempty field is left out.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

// scalarOf formats a string, integer, number, boolean or duration value.
func (e *encoder) scalarOf(v reflect.Value) string {
	if v.Type() == durationType {
		return formatDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.String:
		return scalar(v.String())
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	}
	// TestDecoderCoversTypes keeps other kinds out of File.
	if e.err == nil {
		e.err = fmt.Errorf("config: cannot write a %s", v.Type())
	}
	return "null"
}

// formatDuration is t.String() without zero minutes and seconds: 1h, 5m,
// 1h30m; 90s is 1m30s.
func formatDuration(t time.Duration) string {
	s := t.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// plainRE matches strings that may be written plain if the lexer agrees:
// no indicator first, no space or ':' last, no ": " or " #" inside.
var plainRE = regexp.MustCompile(`^[A-Za-z0-9_/]([A-Za-z0-9_./@:+=~ -]*[A-Za-z0-9_./@+=~-])?$`)

// scalar writes s as a YAML scalar: plain if the YAML lexer reads it back
// as that same string, else double-quoted.
func scalar(s string) string {
	if plainRE.MatchString(s) && !strings.Contains(s, ": ") && !strings.Contains(s, " #") && !strings.Contains(s, "  ") {
		if t := lexer.Tokenize(s); len(t) == 1 && t[0].Type == token.StringType && t[0].Value == s {
			return s
		}
	}
	// Go's escapes (\n, \t, \x1b, \u00a0, \U0001f600) mean the same in a
	// YAML double-quoted string.
	return strconv.Quote(s)
}
