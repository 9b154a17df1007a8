package authn

// Stats are the verifier's counters since it was built, for metrics.
type Stats struct {
	// CacheHits are tokens answered from the verified-token cache (time and
	// key validity re-checked); CacheMisses are tokens verified in full.
	CacheHits, CacheMisses int64
	// KeyFetches are discovery/JWKS fetch attempts over all issuers;
	// KeyFetchErrors those that failed.
	KeyFetches, KeyFetchErrors int64
}

// Stats returns the current counters. Safe for concurrent use.
func (v *Verifier) Stats() Stats {
	s := Stats{CacheHits: v.hits.Load(), CacheMisses: v.misses.Load()}
	for _, is := range v.all {
		s.KeyFetches += is.keys.fetches.Load()
		s.KeyFetchErrors += is.keys.failures.Load()
	}
	return s
}
