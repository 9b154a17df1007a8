// Package editdistance measures how far a mistyped name is from a known
// one, for "did you mean" suggestions (configuration keys, command-line
// flags).
package editdistance

import "math"

// maxLen bounds the names compared: the cost is quadratic in their length,
// and nothing longer is a plausible misspelling of a key or flag.
const maxLen = 64

// Levenshtein is the edit distance between a and b, compared by bytes;
// math.MaxInt when either is longer than 64 bytes.
func Levenshtein(a, b string) int {
	if len(a) > maxLen || len(b) > maxLen {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
