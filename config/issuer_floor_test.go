package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// TestParseRefusesMinRefreshIntervalBelowFloor: a min_refresh_interval
// below authn's floor is a problem at its line, like the other issuer
// checks, rather than an error when the verifier is built.
func TestParseRefusesMinRefreshIntervalBelowFloor(t *testing.T) {
	for _, tt := range []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "below the floor",
			yaml: minimal + "      min_refresh_interval: 5s\n",
			want: []string{`7:7: authn.issuers[0].min_refresh_interval: must be at least 10s`},
		},
		{
			name: "far below, with a short refresh_interval",
			yaml: minimal + "      refresh_interval: 1s\n      min_refresh_interval: 1ms\n",
			want: []string{`8:7: authn.issuers[0].min_refresh_interval: must be at least 10s`},
		},
		{
			name: "negative is not positive",
			yaml: minimal + "      min_refresh_interval: -1m\n",
			want: []string{`7:7: authn.issuers[0].min_refresh_interval: must be positive`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("gatehouse.yaml", []byte(tt.yaml))
			got := problemStrings(err)
			if len(got) != len(tt.want) {
				t.Fatalf("Parse: got problems %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestMinRefreshIntervalFloorAgreesWithVerifier: what validation accepts,
// authn.NewVerifier accepts, and what it refuses, NewVerifier refuses too.
func TestMinRefreshIntervalFloorAgreesWithVerifier(t *testing.T) {
	floor := authn.MinRefreshIntervalFloor
	for _, d := range []time.Duration{time.Millisecond, time.Second, floor - time.Second, floor, floor + time.Second, 5 * time.Minute} {
		yaml := minimal + fmt.Sprintf("      min_refresh_interval: %s\n", d)
		f, err := Parse("gatehouse.yaml", []byte(yaml))
		if (err == nil) != (d >= floor) {
			t.Errorf("min_refresh_interval %s: Parse = %v, want accepted iff at least %s", d, err, floor)
		}
		is := Issuer{Name: "corp", Type: IssuerOIDC, Issuer: "https://idp.example.com", Audiences: []string{"api://corp"},
			RefreshInterval: time.Hour, MinRefreshInterval: d, MaxKeyAge: 24 * time.Hour}
		if f != nil {
			is = f.AuthN.Issuers[0]
		}
		ics, err := is.Runtime(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := authn.NewVerifier(authn.Config{Issuers: ics}); (err == nil) != (d >= floor) {
			t.Errorf("min_refresh_interval %s: NewVerifier = %v, want accepted iff at least %s", d, err, floor)
		}
	}
}
