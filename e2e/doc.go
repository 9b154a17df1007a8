// Package e2e holds whole-binary tests: the gatehouse command is built once
// and driven as a user would, with real clients against what it serves.
package e2e
