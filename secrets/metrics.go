package secrets

import "github.com/prometheus/client_golang/prometheus"

var (
	ageDesc = prometheus.NewDesc("gatehouse_secret_age_seconds",
		"Seconds since the secret's value in use was read from its store.", []string{"secret"}, nil)
	usableDesc = prometheus.NewDesc("gatehouse_secret_usable",
		"1 while the secret has a value younger than max_age, else 0.", []string{"secret"}, nil)
	failuresDesc = prometheus.NewDesc("gatehouse_secret_refresh_failures_total",
		"Reads of the secret's store that failed (the last good value stayed in use).", []string{"secret"}, nil)
)

// Collector exports each secret's age, whether it is usable and its
// refresh failures, labelled with the reference (never the value).
func (s *Set) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Set }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ageDesc
	ch <- usableDesc
	ch <- failuresDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.cfg.Now()
	for _, st := range c.s.Status() {
		age := 0.0
		if !st.Fetched.IsZero() {
			age = now.Sub(st.Fetched).Seconds()
		}
		usable := 0.0
		if st.Usable {
			usable = 1
		}
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, st.Ref)
		ch <- prometheus.MustNewConstMetric(usableDesc, prometheus.GaugeValue, usable, st.Ref)
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue, float64(st.Failures), st.Ref)
	}
}
