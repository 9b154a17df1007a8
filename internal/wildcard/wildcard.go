// Package wildcard matches IAM-style patterns: '*' matches any run of
// characters (including none, colons and slashes included) and '?' exactly
// one. It is what IAM policies use in Resource elements and StringLike
// conditions; the local STS and the local Lambda host share it.
package wildcard

// Match reports whether s matches pattern. It backtracks only to the last
// '*', so it runs in O(len(pattern)·len(s)) at worst: no regular
// expressions, no exponential cases.
func Match(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi] == '?' || (p[pi] != '*' && p[pi] == str[si])):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
