package config_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
)

// TestServeExample keeps examples/gatehouse.yaml, the documented `serve`
// configuration, valid as the format evolves.
func TestServeExample(t *testing.T) {
	f, err := config.Load("../examples/gatehouse.yaml")
	if err != nil {
		for _, p := range config.Problems(err) {
			t.Error(p)
		}
		t.Fatal(err)
	}
	var upstream, host bool
	for _, rt := range f.Gateway.Routes {
		upstream = upstream || rt.Upstream != nil
		host = host || rt.Host != ""
	}
	if !upstream || !host || len(f.AuthN.Issuers) < 2 {
		t.Error("the example no longer shows an upstream route, a host route and two issuers")
	}
}
