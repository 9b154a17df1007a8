package creds

// Stats are the broker's counters since it was built, for metrics.
type Stats struct {
	// CacheHits are requests served a cached session; CacheMisses those
	// that needed STS (or found it backing off).
	CacheHits, CacheMisses int64
	// STSCalls are calls made to STS; STSErrors those that failed.
	STSCalls, STSErrors int64
}

// Stats returns the current counters. Safe for concurrent use.
func (b *Broker) Stats() Stats {
	return Stats{CacheHits: b.hits.Load(), CacheMisses: b.misses.Load(), STSCalls: b.calls.Load(), STSErrors: b.failed.Load()}
}
