package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/gatehouse-dev/gatehouse/internal/editdistance"
)

// decoder fills a File from the YAML syntax tree. Unlike a decoder that
// stops at its first error, it reports every unknown key, duplicate key and
// value of the wrong kind, at any depth, and goes on with the rest; and it
// remembers where each field is written, so that problems found later by
// Validate can name a line too.
//
// It follows the Go types: a key is known if a field has it as its yaml tag.
// Anchors, aliases, merge keys and tags are refused rather than expanded, so
// a small file cannot expand into a large value and every value has exactly
// one place in the file.
type decoder struct {
	name     string
	problems []*Problem
	// pos maps a field path (authn.issuers[0].audiences) to where it is
	// written: the key of a mapping entry, the first key of a list item that
	// is a mapping, else the value.
	pos map[string]token.Position
}

func newDecoder(name string) *decoder {
	return &decoder{name: name, pos: map[string]token.Position{}}
}

func (d *decoder) add(at *token.Token, field, format string, args ...any) {
	p := &Problem{File: d.name, Field: field, Msg: fmt.Sprintf(format, args...)}
	if at != nil && at.Position != nil {
		p.Line, p.Column = at.Position.Line, at.Position.Column
	}
	d.problems = append(d.problems, p)
}

// locate sets p's line and column to where its field, or the closest
// enclosing field present in the file, is written.
func (d *decoder) locate(p *Problem) {
	for f := p.Field; ; f = parentField(f) {
		if pos, ok := d.pos[f]; ok {
			p.Line, p.Column = pos.Line, pos.Column
			return
		}
		if f == "" {
			return
		}
	}
}

// parentField strips the last element of a field path: a.b[0].c -> a.b[0]
// -> a.b -> a -> "".
func parentField(f string) string {
	if strings.HasSuffix(f, "]") {
		if i := strings.LastIndexByte(f, '['); i >= 0 {
			return f[:i]
		}
	}
	if i := strings.LastIndexByte(f, '.'); i >= 0 {
		return f[:i]
	}
	return ""
}

// within reports whether field, or a field that contains it, is in set.
func within(field string, set map[string]bool) bool {
	for f := field; f != ""; f = parentField(f) {
		if set[f] {
			return true
		}
	}
	return false
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyPath appends a mapping key to a field path; keys that would be
// ambiguous in a path are quoted: app_roles["api://x"].
func keyPath(parent, key string) string {
	if !plainKey.MatchString(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
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

var durationType = reflect.TypeFor[time.Duration]()

// value decodes n into v, the field at path field.
func (d *decoder) value(field string, n ast.Node, v reflect.Value) {
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return // leaves the zero value, which ApplyDefaults may fill
	case *ast.AnchorNode:
		d.add(where(n), field, "anchors (&%s) are not supported: write the value out", refName(x.Name.GetToken()))
		return
	case *ast.AliasNode:
		d.add(where(n), field, "aliases (*%s) are not supported: write the value out", refName(x.Value.GetToken()))
		return
	case *ast.TagNode:
		d.add(where(n), field, "tags (%s) are not supported: quote a value to make it a string", refName(x.Start))
		return
	}
	if v.Type() == durationType {
		d.duration(field, n, v)
		return
	}
	if v.Type() == secretRefType {
		if _, ok := entries(n); !ok {
			value := ""
			if t := n.GetToken(); t != nil {
				value = t.Value
			}
			d.add(where(n), field, "%s", inlineSecretMsg(value))
			return
		}
	}
	if v.Type() == keyRefType {
		if _, ok := entries(n); !ok {
			d.add(where(n), field, "%s", inlineKeyMsg())
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		d.value(field, n, e.Elem())
		v.Set(e)
	case reflect.Struct:
		d.structure(field, n, v)
	case reflect.Slice:
		d.list(field, n, v)
	case reflect.Map:
		d.dict(field, n, v)
	case reflect.String:
		d.str(field, n, v)
	case reflect.Int:
		d.integer(field, n, v)
	case reflect.Float64:
		d.number(field, n, v)
	case reflect.Bool:
		if b, ok := n.(*ast.BoolNode); ok {
			v.SetBool(b.Value)
			return
		}
		d.add(where(n), field, "must be true or false, not %s", kind(n))
	default:
		// Only reached if a field of a new type is added to File without
		// teaching the decoder; TestDecoderCoversTypes guards it.
		d.add(where(n), field, "cannot decode into %s", v.Type())
	}
}

// entries returns the key/value pairs of a mapping node, or false if n is
// not a mapping.
func entries(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch n := n.(type) {
	case *ast.MappingNode:
		return n.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{n}, true
	}
	return nil, false
}

// keys walks the entries of mapping n, reporting keys that are not plain
// scalars and duplicates, and calls f with each good key, its path and its
// value.
func (d *decoder) keys(field string, n ast.Node, f func(key, path string, kv *ast.MappingValueNode)) bool {
	kvs, ok := entries(n)
	if !ok {
		return false
	}
	seen := map[string]int{}
	for _, kv := range kvs {
		var key string
		switch k := kv.Key.(type) {
		case *ast.StringNode:
			key = k.Value
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode, *ast.InfinityNode, *ast.NanNode:
			key = k.GetToken().Value
		case *ast.MergeKeyNode:
			d.add(where(kv), field, "merge keys (<<) are not supported: write the entries out")
			continue
		default:
			d.add(where(kv), field, "keys must be plain strings, not %s", kind(kv.Key))
			continue
		}
		at := kv.Key.GetToken()
		path := keyPath(field, key)
		if first, dup := seen[key]; dup {
			d.add(at, path, "duplicate key %s (first at line %d)", short(key), first)
			continue
		}
		seen[key] = 0
		if at != nil && at.Position != nil {
			seen[key] = at.Position.Line
			d.pos[path] = *at.Position
		}
		f(key, path, kv)
	}
	return true
}

// structure decodes a mapping into a struct, field by yaml tag.
func (d *decoder) structure(field string, n ast.Node, v reflect.Value) {
	t := v.Type()
	fields := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
	}
	ok := d.keys(field, n, func(key, path string, kv *ast.MappingValueNode) {
		i, known := fields[key]
		if !known {
			if msg := mutableClaimMsg(path, key); msg != "" {
				d.add(kv.Key.GetToken(), path, "%s", msg)
				return
			}
			d.add(kv.Key.GetToken(), path, "unknown field %s%s", short(key), suggest(key, fields))
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
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
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
		path := indexPath(field, i)
		if at := where(item); at != nil && at.Position != nil {
			d.pos[path] = *at.Position
		}
		d.value(path, item, s.Index(i))
	}
	v.Set(s)
}

// str decodes a scalar into a string. Numbers and booleans are taken as
// written (versions: [2.0] gives "2.0"); quoting is needed only for YAML's
// special characters.
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

func (d *decoder) integer(field string, n ast.Node, v reflect.Value) {
	x, ok := n.(*ast.IntegerNode)
	if !ok {
		d.add(where(n), field, "must be a whole number, not %s", kind(n))
		return
	}
	switch i := x.Value.(type) {
	case int64:
		if i >= math.MinInt && i <= math.MaxInt {
			v.SetInt(i)
			return
		}
	case uint64:
		if i <= math.MaxInt {
			v.SetInt(int64(i))
			return
		}
	}
	d.add(where(n), field, "number %s is out of range", short(x.GetToken().Value))
}

// number decodes a finite number, written as an integer or a decimal.
func (d *decoder) number(field string, n ast.Node, v reflect.Value) {
	switch x := n.(type) {
	case *ast.FloatNode:
		v.SetFloat(x.Value)
	case *ast.IntegerNode:
		f, err := strconv.ParseFloat(x.GetToken().Value, 64)
		if err != nil {
			d.add(where(n), field, "number %s is out of range", short(x.GetToken().Value))
			return
		}
		v.SetFloat(f)
	case *ast.InfinityNode, *ast.NanNode:
		d.add(where(n), field, "must be a finite number")
	default:
		d.add(where(n), field, "must be a number, not %s", kind(n))
	}
}

func (d *decoder) duration(field string, n ast.Node, v reflect.Value) {
	s, ok := n.(*ast.StringNode)
	if !ok {
		if _, num := n.(*ast.IntegerNode); num {
			d.add(where(n), field, "a duration needs a unit, such as \"90s\", \"5m\" or \"1h\"")
			return
		}
		d.add(where(n), field, "must be a duration such as \"90s\", \"5m\" or \"1h\", not %s", kind(n))
		return
	}
	t, err := time.ParseDuration(s.Value)
	if err != nil {
		d.add(where(n), field, "invalid duration %s: use a number and a unit, such as \"90s\", \"5m\" or \"1h\"", short(s.Value))
		return
	}
	v.SetInt(int64(t))
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
	case *ast.NullNode:
		return "null"
	case *ast.AnchorNode, *ast.AliasNode:
		return "an anchor or alias"
	case *ast.TagNode:
		return "a tagged value"
	case *ast.MappingKeyNode:
		return "an explicit key (?)"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// short quotes s for a message, cut to a readable length.
func short(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

var refNameRE = regexp.MustCompile(`^!{0,2}[A-Za-z0-9_.-]{1,64}$`)

// refName returns the name of an anchor, alias or tag for a message: as is
// if it is short and plain, else quoted.
func refName(t *token.Token) string {
	if t == nil {
		return `""`
	}
	if refNameRE.MatchString(t.Value) {
		return t.Value
	}
	return short(t.Value)
}

// suggest returns ` (did you mean "x"?)` for the known field closest to an
// unknown key, if one is close enough to be a typo.
func suggest(key string, fields map[string]int) string {
	best, bestD := "", 3
	lk := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	for f := range fields {
		if f == "" || f == "-" {
			continue
		}
		dist := editdistance.Levenshtein(lk, f)
		if dist < bestD || (dist == bestD && f < best) {
			best, bestD = f, dist
		}
	}
	if best == "" || bestD > len(key)/3+1 {
		// A known field with a suffix added, as in tenant_id for tenant.
		best = ""
		for f := range fields {
			if len(f) >= 4 && len(f) > len(best) && strings.HasPrefix(lk, f) {
				best = f
			}
		}
		if best == "" {
			return ""
		}
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Limits on the shape of a file, checked before parsing because the YAML
// parser takes time quadratic in the depth of nesting and in the number of
// keys of a block mapping. A configuration needs about ten levels and a few
// dozen keys per mapping.
const (
	maxDepth = 64
	maxKeys  = 1000
)

// tooComplex returns the first token at which tokens exceed maxDepth or
// maxKeys, and what is exceeded; nil if neither is.
//
// Flow collections count their brackets. Block collections count the
// indentation levels open at each line start and at each "-" or "?"
// indicator: a bound that may count a compact list twice but never misses
// a level. Keys are counted per indentation level, from one line-start key
// to the next at the same column.
func tooComplex(tokens token.Tokens) (*token.Token, string) {
	type level struct{ column, keys int }
	var block []level // the open block levels, innermost last
	flow := 0
	line := 0
	for i, t := range tokens {
		if t.Type == token.CommentType {
			continue
		}
		if flow == 0 && (t.Position.Line != line || t.Type == token.SequenceEntryType || t.Type == token.MappingKeyType) {
			keys := 0
			for len(block) > 0 && block[len(block)-1].column >= t.Position.Column {
				if block[len(block)-1].column == t.Position.Column {
					keys = block[len(block)-1].keys // a sibling
				}
				block = block[:len(block)-1]
			}
			if i+1 < len(tokens) && tokens[i+1].Type == token.MappingValueType {
				keys++
			}
			if keys > maxKeys {
				return t, fmt.Sprintf("a mapping has more than %d keys", maxKeys)
			}
			block = append(block, level{t.Position.Column, keys})
		}
		switch t.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		}
		line = t.Position.Line
		if flow+len(block) > maxDepth {
			return t, fmt.Sprintf("lists and mappings are nested more than %d deep", maxDepth)
		}
	}
	return nil, ""
}
