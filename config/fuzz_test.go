package config

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics, and returns either a File that
// passes Validate and prints back to itself, or problems and no File.
func FuzzParse(f *testing.F) {
	dev := string(DefaultYAML())
	f.Add(dev)
	f.Add(minimal)
	f.Add("")
	f.Add("---\n---\n")
	f.Add(dev[:len(dev)/2])
	f.Add(strings.Replace(dev, "audiences:", "audience:", 1))
	f.Add(strings.Replace(dev, "    - name: dev", "    - &a name: dev", 1) + "x: *a\n")
	f.Add(strings.ReplaceAll(dev, "  ", "\t"))
	f.Add(`{authn: {issuers: [{name: a, type: entra, entra: {authority: "https://login.microsoftonline.com", tenant: common, tenants: ["*"], versions: ["1.0"]}, audiences: [x]}]}}`)
	f.Add("a: &a [*a, *a]\nb: *a\n")
	f.Add("authn:\n  issuers:\n    - ? a\n      : b\n    - <<: {}\n    - !!map {}\n")
	f.Fuzz(func(t *testing.T, in string) {
		file, err := Parse("fuzz.yaml", []byte(in))
		if err != nil {
			if file != nil {
				t.Fatalf("Parse returned a File and error %v", err)
			}
			ps := Problems(err)
			if len(ps) == 0 {
				t.Fatalf("Parse error holds no *Problem: %v", err)
			}
			for _, p := range ps {
				if p.File != "fuzz.yaml" || p.Msg == "" || p.Line < 0 || p.Column < 0 {
					t.Errorf("bad problem %#v", p)
				}
			}
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("Parse returned a File that fails Validate: %v", err)
		}
		text, err := file.Marshal()
		if err != nil {
			t.Fatalf("Marshal = %v", err)
		}
		back, err := Parse("printed.yaml", text)
		if err != nil {
			t.Fatalf("Parse(Marshal(f)) = %v\n%s", err, text)
		}
		if diff := cmp.Diff(file, back); diff != "" {
			t.Fatalf("Parse(Marshal(f)) mismatch (-want +got):\n%s\n%s", diff, text)
		}
	})
}

// FuzzMarshalStrings checks that Marshal writes any string so that Parse
// reads back the same string.
func FuzzMarshalStrings(f *testing.F) {
	for _, s := range []string{"plain", "Alice Example", "? x", "x: y", "a #b", "null", "1e3", "\u00a0", "two\nlines", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Default()
		c.AuthN.Issuers[0].Audiences = append(c.AuthN.Issuers[0].Audiences, "x"+s)
		c.Dev.IDP.Tenants[0].Users[0].Name = s
		c.Dev.IDP.Tenants[0].Users[0].Password = Secret("x" + s)
		c.Dev.StateDir = s
		text, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal = %v", err)
		}
		back, err := Parse("printed.yaml", text)
		if !utf8.ValidString(s) {
			return // YAML text is Unicode: such a string cannot come from Parse
		}
		if err != nil {
			t.Fatalf("Parse(Marshal(f)) = %v\n%s", err, text)
		}
		if diff := cmp.Diff(c, back); diff != "" {
			t.Fatalf("Parse(Marshal(f)) mismatch (-want +got):\n%s\n%s", diff, text)
		}
	})
}
