package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxFileSize is the largest configuration file accepted, in bytes.
const MaxFileSize = 1 << 20

// Load reads the configuration file at path and parses it with Parse,
// naming it path in problems.
func Load(path string) (*File, error) { return LoadFor(path, "") }

// LoadFor is Load with the checks of where the file runs (CheckFor), each
// problem located in the file.
func LoadFor(path string, w Where) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseFor(path, data, w)
}

// Parse decodes a configuration file strictly, applies defaults and
// validates the result. name is the file's name for problems.
//
// The error, if any, joins every problem found, in file order, each a
// *Problem naming the line, column and field: unknown or duplicate keys at
// any depth, values of the wrong kind, and all that Validate finds. A
// problem Validate finds in a field that could not be decoded is left out,
// as the decoding problem already names that field. Parse returns a File
// only if there is no problem; it does no I/O.
func Parse(name string, data []byte) (*File, error) { return ParseFor(name, data, "") }

// ParseFor is Parse with the checks of where the file runs (CheckFor); ""
// means none. All problems, Validate's and these, are reported at once.
func ParseFor(name string, data []byte, w Where) (*File, error) {
	f, _, err := parseFor(name, data, w)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Source is where a parsed file writes each field, to name the file and
// line of a problem found later, when the file is used (a key file that
// cannot be read, a Cedar file that does not compile).
type Source struct {
	name     string
	pos      map[string]token.Position
	problems []string // fields the file's own problems name
}

// Clean reports whether the file had no problem at field or anywhere
// under it, so a later check of field would not repeat or compound one.
func (s *Source) Clean(field string) bool {
	for _, p := range s.problems {
		if p == field || strings.HasPrefix(p, field+".") || strings.HasPrefix(p, field+"[") || p == "" {
			return false
		}
	}
	return true
}

// Problem returns the problem of field with its file and line (or those of
// the closest enclosing field the file writes).
func (s *Source) Problem(field, format string, args ...any) *Problem {
	p := &Problem{File: s.name, Field: field, Msg: fmt.Sprintf(format, args...)}
	for f := field; ; f = parentField(f) {
		if pos, ok := s.pos[f]; ok {
			p.Line, p.Column = pos.Line, pos.Column
			return p
		}
		if f == "" {
			return p
		}
	}
}

// LoadSource is LoadFor, with the file's Source. A file that decodes but
// has problems comes back with them, so a caller can check the rest of it
// (the files it names) and report everything at once; such a File is never
// to be run.
func LoadSource(path string, w Where) (*File, *Source, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return parseFor(path, data, w)
}

func parseFor(name string, data []byte, w Where) (*File, *Source, error) {
	f, d := decode(name, data)
	if f == nil {
		return nil, nil, joinProblems(d.problems)
	}
	f.ApplyDefaults()
	undecoded := map[string]bool{} // fields with a decoding problem
	for _, p := range d.problems {
		if p.Field != "" {
			undecoded[p.Field] = true
		}
	}
	problems := d.problems
	for _, p := range append(Problems(f.Validate()), f.checkFor(w)...) {
		if within(p.Field, undecoded) {
			continue
		}
		p.File = name
		d.locate(p)
		problems = append(problems, p)
	}
	src := &Source{name: name, pos: d.pos}
	for _, p := range problems {
		src.problems = append(src.problems, p.Field)
	}
	return f, src, joinProblems(problems)
}

// decode turns data into a File, with the decoder's problems. The File is
// nil if data is not a YAML mapping at all.
func decode(name string, data []byte) (*File, *decoder) {
	d := newDecoder(name)
	if len(data) > MaxFileSize {
		d.add(nil, "", "the file is larger than %d bytes (1 MiB), the most a configuration file may be", MaxFileSize)
		return nil, d
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	tokens := lexer.Tokenize(string(data))
	if t, msg := tooComplex(tokens); t != nil {
		d.add(t, "", "%s", msg)
		return nil, d
	}
	file, err := parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) {
			d.syntaxProblem(tokens, se.Token, se.Message)
		} else {
			d.add(nil, "", "invalid YAML: %v", err)
		}
		return nil, d
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
		d.add(at, "", "a configuration file holds one YAML document; another starts here")
		return nil, d
	}
	switch body.(type) {
	case nil, *ast.NullNode, *ast.CommentGroupNode:
		d.add(nil, "", "the file is empty: it needs at least an authn: section with issuers")
		return nil, d
	case *ast.MappingNode, *ast.MappingValueNode:
	default:
		d.add(where(body), "", "the configuration must be a mapping of sections (authn:, dev:), not %s", kind(body))
		return nil, d
	}
	f := new(File)
	d.structure("", body, reflect.ValueOf(f).Elem())
	return f, d
}
