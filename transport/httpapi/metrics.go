package httpapi

import (
	"time"

	"github.com/exportd/exportd/api"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the daemon's Prometheus metrics, served on GET /metrics. The
// job runner reports through the methods (their signatures fit hooks of
// func type); the HTTP server keeps ActiveDownloads; exportd_exports
// {state} is counted from api.Exports.List at each scrape, so it is right
// after a restart without anyone keeping it. All of it is safe for
// concurrent use.
type Metrics struct {
	// Records counts the records in sealed chunks
	// (exportd_records_exported_total).
	Records prometheus.Counter
	// Bytes counts the bytes of sealed chunk files, after compression
	// (exportd_bytes_exported_total).
	Bytes prometheus.Counter
	// ChunkSeal observes, in seconds, the time from the commit of an
	// export's previous chunk (or from when its run began) to the commit of
	// the next (exportd_chunk_seal_seconds).
	ChunkSeal prometheus.Histogram
	// QueueDepth is the number of exports waiting to run
	// (exportd_queue_depth).
	QueueDepth prometheus.Gauge
	// Finished counts exports that reached a final state
	// (exportd_exports_finished_total{state}); the final states are
	// present from the start.
	Finished *prometheus.CounterVec
	// ActiveDownloads is the number of download responses in progress
	// (exportd_http_active_downloads).
	ActiveDownloads prometheus.Gauge
	// Owned is 1 for each export this daemon runs now
	// (exportd_export_running{export}): in a cluster, what this node owns.
	// It has at most maxConcurrent series.
	Owned *prometheus.GaugeVec
}

// SetOwned records that this daemon started (owned) or stopped running
// export id.
func (m *Metrics) SetOwned(id string, owned bool) {
	if owned {
		m.Owned.WithLabelValues(id).Set(1)
		return
	}
	m.Owned.DeleteLabelValues(id)
}

// SetQueueDepth records that n exports wait to run.
func (m *Metrics) SetQueueDepth(n int) { m.QueueDepth.Set(float64(n)) }

// AddExported records a sealed chunk of records records and bytes bytes.
func (m *Metrics) AddExported(records, bytes int64) {
	m.Records.Add(float64(records))
	m.Bytes.Add(float64(bytes))
}

// ObserveSeal records how long a chunk took until it was committed.
func (m *Metrics) ObserveSeal(d time.Duration) { m.ChunkSeal.Observe(d.Seconds()) }

// ExportFinished records an export that reached state (completed, failed
// or cancelled).
func (m *Metrics) ExportFinished(state api.State) { m.Finished.WithLabelValues(string(state)).Inc() }

// newMetrics makes the metrics and registers them, and the per-state count
// of exports, with reg.
func newMetrics(reg prometheus.Registerer, exports api.Exports) (*Metrics, error) {
	m := &Metrics{
		Records: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "exportd", Name: "records_exported_total",
			Help: "Records in sealed chunks.",
		}),
		Bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "exportd", Name: "bytes_exported_total",
			Help: "Bytes of sealed chunk files (compressed).",
		}),
		ChunkSeal: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "exportd", Name: "chunk_seal_seconds",
			Help: "Time from the commit of an export's previous chunk (or the start of its run) to the commit of the next.",
			// From a millisecond (a small chunk on a fast disk) to a few
			// minutes (64 MiB of large documents on a busy one).
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "exportd", Name: "queue_depth",
			Help: "Exports queued and waiting to run.",
		}),
		Finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "exportd", Name: "exports_finished_total",
			Help: "Exports that reached a final state, by state.",
		}, []string{"state"}),
		ActiveDownloads: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "exportd", Subsystem: "http", Name: "active_downloads",
			Help: "Chunk and whole-export downloads in progress.",
		}),
		Owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "exportd", Name: "export_running",
			Help: "1 for each export this daemon runs now (in a cluster, the exports this node owns).",
		}, []string{"export"}),
	}
	for _, s := range []api.State{api.StateCompleted, api.StateFailed, api.StateCancelled} {
		m.Finished.WithLabelValues(string(s))
	}
	states := &stateCollector{
		exports: exports,
		desc:    prometheus.NewDesc("exportd_exports", "Exports by state.", []string{"state"}, nil),
	}
	for _, c := range []prometheus.Collector{states, m.Records, m.Bytes, m.ChunkSeal, m.QueueDepth, m.Finished, m.ActiveDownloads, m.Owned} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// stateCollector counts the exports in each state when it is scraped.
type stateCollector struct {
	exports api.Exports
	desc    *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ms, err := c.exports.List("")
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	counts := make(map[api.State]int, len(api.States))
	for _, m := range ms {
		counts[m.State]++
	}
	for _, s := range api.States {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
