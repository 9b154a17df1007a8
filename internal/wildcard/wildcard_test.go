package wildcard

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything:at/all", true},
		{"reports-*", "reports-daily", true},
		{"reports-*", "report-daily", false},
		{"role:reader:*", "role:reader:abc", true},
		{"role:reader:*", "role:readers:abc", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*b*c", "a-x-b-y-c", true},
		{"a*b*c", "a-x-c-y-b", false},
		{"arn:aws:lambda:*:*:function:echo", "arn:aws:lambda:us-east-1:000000000000:function:echo", true},
		{"", "", true},
		{"", "x", false},
		{"é?", "éa", true},
	}
	for _, tc := range tests {
		if got := Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
