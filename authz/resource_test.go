package authz

import "testing"

func TestParseResource(t *testing.T) {
	tests := []struct {
		name, in string
		want     Resource
		wantErr  string
	}{
		{name: "function", in: "function:hello", want: Resource{Kind: ResourceFunction, Name: "hello"}},
		{name: "route", in: "route:api", want: Resource{Kind: ResourceRoute, Name: "api"}},
		{name: "bare name is a function", in: "hello", want: Resource{Kind: ResourceFunction, Name: "hello"}},
		{name: "name keeps later colons", in: "route:a:b", want: Resource{Kind: ResourceRoute, Name: "a:b"}},
		{name: "unknown kind", in: "bucket:x", wantErr: `resource "bucket:x": want function:NAME or route:ID`},
		{name: "no name", in: "function:", wantErr: `resource "function:" has no name`},
		{name: "empty", in: "", wantErr: `resource "" has no name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResource(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseResource(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseResource(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
