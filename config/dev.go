package config

import (
	"bytes"
	_ "embed"
)

//go:embed dev.yaml
var devYAML []byte

// DefaultYAML returns the text of the embedded development configuration,
// comments included: what `gatehouse dev` runs without a configuration
// file. The caller may modify the returned slice.
func DefaultYAML() []byte { return bytes.Clone(devYAML) }

// Default returns the embedded development configuration, parsed: defaults
// applied and validated. Each call returns a new File the caller may modify.
func Default() *File {
	f, err := Parse("dev.yaml", devYAML)
	if err != nil {
		// Unreachable: TestDefault parses the same embedded bytes.
		panic("config: embedded dev.yaml is invalid: " + err.Error())
	}
	return f
}
