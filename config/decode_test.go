package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestDecoderCoversTypes checks that every field of File, at any depth, has
// a yaml key and a type the decoder handles, so that adding a section
// cannot silently make part of the file undecodable.
func TestDecoderCoversTypes(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		if typ == durationType {
			return
		}
		switch typ.Kind() {
		case reflect.String, reflect.Int, reflect.Float64, reflect.Bool:
		case reflect.Pointer, reflect.Slice:
			walk(path, typ.Elem())
		case reflect.Map:
			if typ.Key().Kind() != reflect.String {
				t.Errorf("%s: map key %s is not a string", path, typ.Key())
			}
			walk(path, typ.Elem())
		case reflect.Struct:
			if seen[typ] {
				return
			}
			seen[typ] = true
			keys := map[string]bool{}
			for i := range typ.NumField() {
				sf := typ.Field(i)
				key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
				if key == "" || key == "-" || !plainKey.MatchString(key) {
					t.Errorf("%s.%s: yaml key %q; every field needs a plain key", path, sf.Name, key)
				}
				if keys[key] {
					t.Errorf("%s.%s: yaml key %q used twice", path, sf.Name, key)
				}
				keys[key] = true
				walk(path+"."+key, sf.Type)
			}
		default:
			t.Errorf("%s: the decoder does not handle %s", path, typ)
		}
	}
	walk("File", reflect.TypeFor[File]())
}
