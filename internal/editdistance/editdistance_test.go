package editdistance

import (
	"math"
	"strings"
	"testing"
)

func TestLevenshtein(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"audiences", "audience", 1}, {"tenant", "tennat", 2},
		{"kitten", "sitting", 3}, {"leeway", "leway", 1}, {"abc", "xyz", 3}, {strings.Repeat("a", 65), "a", math.MaxInt},
	} {
		if got := Levenshtein(c.a, c.b); got != c.want {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
