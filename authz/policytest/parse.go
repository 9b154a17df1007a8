package policytest

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Problem is one thing wrong with a policy test file. Parse returns every
// problem it finds, in file order, joined with errors.Join; Problems lists
// them.
type Problem struct {
	// File is the name given to Parse.
	File string
	// Line and Column (1-based) locate the problem; 0 when it concerns the
	// file as a whole, such as a file without cases.
	Line, Column int
	// Field is the path of the field, such as cases[2].expect or
	// principals.alice.groups; "" for the file as a whole.
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
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems returns the problems in err, as returned by Parse, in order;
// nil if err holds none.
func Problems(err error) []*Problem {
	var out []*Problem
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var p *Problem
	if errors.As(err, &p) {
		out = append(out, p)
	}
	return out
}

// Parse decodes a policy test file strictly. name is the file's name for
// problems. It returns a Suite only if the file has no problem; the error
// otherwise joins every problem found, each a *Problem. It does no I/O.
func Parse(name string, data []byte) (*Suite, error) {
	d := &decoder{name: name}
	file, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey()) // the decoder reports duplicates, all of them
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) {
			d.add(se.Token, "", "invalid YAML: %s", se.Message)
		} else {
			d.add(nil, "", "invalid YAML: %v", err)
		}
		return nil, d.err()
	}
	var body ast.Node
	for i, doc := range file.Docs {
		if i == 0 {
			body = doc.Body
			continue
		}
		at := doc.Start
		if at == nil && doc.Body != nil {
			at = where(doc.Body)
		}
		d.add(at, "", "a policy test file holds one YAML document; another starts here")
		return nil, d.err()
	}
	s := new(Suite)
	switch body.(type) {
	case nil, *ast.NullNode, *ast.CommentGroupNode:
	default:
		d.structure("", body, reflect.ValueOf(s).Elem())
	}
	if len(s.Cases) == 0 && !d.failed["cases"] {
		d.add(nil, "", "no cases")
	}
	if len(d.problems) > 0 {
		return nil, d.err()
	}
	return s, nil
}

// decoder fills a Suite from the YAML syntax tree, following the Go types:
// a key is known if a field has it as its yaml tag. Unlike a decoder that
// stops at its first error, it reports every problem and goes on with the
// rest.
type decoder struct {
	name     string
	problems []error
	failed   map[string]bool // fields with a problem
}

func (d *decoder) add(at *token.Token, field, format string, args ...any) {
	p := &Problem{File: d.name, Field: field, Msg: fmt.Sprintf(format, args...)}
	if at != nil && at.Position != nil {
		p.Line, p.Column = at.Position.Line, at.Position.Column
	}
	d.problems = append(d.problems, p)
	if d.failed == nil {
		d.failed = map[string]bool{}
	}
	d.failed[field] = true
}

func (d *decoder) err() error { return errors.Join(d.problems...) }

// value decodes n into v, the field at path field.
func (d *decoder) value(field string, n ast.Node, v reflect.Value) {
	switch n.(type) {
	case nil, *ast.NullNode:
		return // the zero value
	case *ast.AnchorNode, *ast.AliasNode:
		d.add(where(n), field, "anchors and aliases are not supported: write the value out")
		return
	case *ast.TagNode:
		d.add(where(n), field, "tags are not supported: quote a value to make it a string")
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(field, n, v)
	case reflect.Slice:
		d.list(field, n, v)
	case reflect.Map:
		d.dict(field, n, v)
	case reflect.String:
		d.str(field, n, v)
	case reflect.Bool:
		if b, ok := n.(*ast.BoolNode); ok {
			v.SetBool(b.Value)
			return
		}
		d.add(where(n), field, "must be true or false, not %s", kind(n))
	default:
		// Only reached if a field of a new type is added to Suite without
		// teaching the decoder; the tests decode every field.
		d.add(where(n), field, "cannot decode into %s", v.Type())
	}
}

// keys calls f with each key of mapping n, its path and its value,
// reporting keys that are not plain scalars and duplicates. It returns
// false if n is not a mapping.
func (d *decoder) keys(field string, n ast.Node, f func(key, path string, kv *ast.MappingValueNode)) bool {
	var kvs []*ast.MappingValueNode
	switch n := n.(type) {
	case *ast.MappingNode:
		kvs = n.Values
	case *ast.MappingValueNode:
		kvs = []*ast.MappingValueNode{n}
	default:
		return false
	}
	seen := map[string]int{}
	for _, kv := range kvs {
		var key string
		switch k := kv.Key.(type) {
		case *ast.StringNode:
			key = k.Value
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
			key = k.GetToken().Value
		case *ast.MergeKeyNode:
			d.add(where(kv), field, "merge keys (<<) are not supported: write the entries out")
			continue
		default:
			d.add(where(kv), field, "keys must be plain strings, not %s", kind(kv.Key))
			continue
		}
		at := kv.Key.GetToken()
		path := key
		if field != "" {
			path = field + "." + key
		}
		if first, dup := seen[key]; dup {
			d.add(at, path, "duplicate key %q (first at line %d)", key, first)
			continue
		}
		seen[key] = 0
		if at != nil && at.Position != nil {
			seen[key] = at.Position.Line
		}
		f(key, path, kv)
	}
	return true
}

// structure decodes a mapping into a struct, field by yaml tag.
func (d *decoder) structure(field string, n ast.Node, v reflect.Value) {
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
		names = append(names, name)
	}
	ok := d.keys(field, n, func(key, path string, kv *ast.MappingValueNode) {
		i, known := fields[key]
		if !known {
			d.add(kv.Key.GetToken(), path, "unknown field %q (want one of %s)", key, strings.Join(names, ", "))
			return
		}
		d.value(path, kv.Value, v.Field(i))
	})
	if !ok {
		d.add(where(n), field, "must be a mapping of fields, not %s", kind(n))
	}
}

// dict decodes a mapping into a map with string keys.
func (d *decoder) dict(field string, n ast.Node, v reflect.Value) {
	m := reflect.MakeMap(v.Type())
	ok := d.keys(field, n, func(key, path string, kv *ast.MappingValueNode) {
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(path, kv.Value, e)
		m.SetMapIndex(reflect.ValueOf(key), e)
	})
	if !ok {
		d.add(where(n), field, "must be a mapping, not %s", kind(n))
		return
	}
	v.Set(m)
}

// list decodes a sequence into a slice.
func (d *decoder) list(field string, n ast.Node, v reflect.Value) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.add(where(n), field, "must be a list, not %s", kind(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, item := range seq.Values {
		d.value(field+"["+strconv.Itoa(i)+"]", item, s.Index(i))
	}
	v.Set(s)
}

// str decodes a scalar into a string; numbers and booleans are taken as
// written.
func (d *decoder) str(field string, n ast.Node, v reflect.Value) {
	switch x := n.(type) {
	case *ast.StringNode:
		v.SetString(x.Value)
	case *ast.LiteralNode:
		v.SetString(x.Value.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		v.SetString(x.GetToken().Value)
	default:
		d.add(where(n), field, "must be a string, not %s", kind(n))
	}
}

// where returns the token a problem about n points at: for a mapping, its
// first key rather than the ':' the parser gives.
func where(n ast.Node) *token.Token {
	switch n := n.(type) {
	case *ast.MappingNode:
		if len(n.Values) > 0 && !n.IsFlowStyle {
			return where(n.Values[0])
		}
	case *ast.MappingValueNode:
		if n.Key != nil {
			return n.Key.GetToken()
		}
	}
	return n.GetToken()
}

// kind names the kind of a node for messages.
func kind(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	}
	return "a " + strings.ToLower(n.Type().String())
}
