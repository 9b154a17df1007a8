package build

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/revoke"
)

// Revocations opens the revocation store when the file turns revocation
// on (nil, nil when it does not), with its connection string from
// revocation.dsn or audit.dsn: kept fresh by o.Secrets when the caller has
// a set (a rotated string is used from the next connection on), else read
// once. The caller runs Store.Run to keep the copy current.
func Revocations(ctx context.Context, f *config.File, o Options) (*revoke.Store, error) {
	if !f.Revocation.Enabled() {
		return nil, nil
	}
	field := f.RevocationDSNField()
	var dsn func() string
	if sec := o.Secrets.Field(field); sec != nil {
		dsn = func() string {
			v, err := sec.Get()
			if err != nil {
				return "" // refused by the driver: fails closed
			}
			return string(v.Bytes)
		}
	} else {
		v, err := ReadSecret(ctx, f, o, field)
		if err != nil {
			return nil, err
		}
		s := string(v.Bytes)
		dsn = func() string { return s }
	}
	return revoke.Open(ctx, revoke.Config{DSN: dsn, MaxStaleness: f.Revocation.MaxStaleness, OnStale: f.Revocation.OnStale, Logger: o.logger()})
}
