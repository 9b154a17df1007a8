package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
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
	f, d := decode(name, data)
	if f == nil {
		return nil, joinProblems(d.problems)
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
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}
	return f, nil
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
			d.add(se.Token, "", "invalid YAML: %s", se.Message)
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
