package runner

import (
	"context"
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
	// Owned is told when this node starts running export id (true) and
	// when it stops (false).
	Owned func(id string, owned bool)
}

// SetMetrics installs the metrics hooks; call it before Run.
func (r *Runner) SetMetrics(m Metrics) {
	r.metrics.Store(&m)
	r.lookUpQueueDepth(context.Background()) // the exports New queued
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

func (m *Metrics) owned(id string, owned bool) {
	if m.Owned != nil {
		m.Owned(id, owned)
	}
}
