package runner

import (
	"time"

	"github.com/exportd/exportd/api"
)

// Metrics are the hooks through which the runner reports to the metrics
// registry; a nil hook is skipped.
type Metrics struct {
	// QueueDepth is told the number of waiting exports.
	QueueDepth func(n int)
	// Exported is told of each sealed chunk's records and bytes.
	Exported func(records, bytes int64)
	// SealLatency is told, for each chunk, the time from the commit of the
	// run's previous chunk (or, for its first, from when the run began)
	// to this chunk's commit.
	SealLatency func(d time.Duration)
	// Finished is told each export that reaches a final state.
	Finished func(state api.State)
}

// SetMetrics installs the metrics hooks; call it before Run.
func (r *Runner) SetMetrics(m Metrics) {
	r.mu.Lock()
	r.metrics = m
	r.metrics.queueDepth(len(r.queue)) // the exports New queued
	r.mu.Unlock()
}

func (m *Metrics) queueDepth(n int) {
	if m.QueueDepth != nil {
		m.QueueDepth(n)
	}
}

func (m *Metrics) finished(state api.State) {
	if m.Finished != nil {
		m.Finished(state)
	}
}
