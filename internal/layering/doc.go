// Package layering holds the test that keeps the package layout honest: which
// gatehouse package may import which (a later pipeline step may use an
// earlier one's result, never the reverse), that test plumbing
// (internal/testkit) stays out of every non-test package, and that every
// package says what it is in a doc comment.
package layering
