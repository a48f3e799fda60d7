package cluster

import (
	"fmt"
	"regexp"
	"time"

	"github.com/exportd/exportd/api"
)

// Config names the JetStream bucket and streams the daemons of one
// service share, and how they are kept. Every daemon of the service must
// be given the same one.
type Config struct {
	// Prefix is the first part of the work and progress subjects.
	Prefix string `yaml:"prefix"`
	// Bucket is the key-value bucket of the export records.
	Bucket string `yaml:"bucket"`
	// WorkStream is the work-queue stream that hands exports to nodes.
	WorkStream string `yaml:"workStream"`
	// ProgressStream is the stream that keeps the progress events.
	ProgressStream string `yaml:"progressStream"`
	// Replicas is how many servers keep each of them (1 to 5).
	Replicas int `yaml:"replicas"`
	// LeaseTTL is how long a node may go silent before its job is handed
	// to another: the work consumer's AckWait.
	LeaseTTL time.Duration `yaml:"leaseTTL"`
	// ProgressMaxAge is how long a progress event is kept.
	ProgressMaxAge time.Duration `yaml:"progressMaxAge"`
	// ProgressPerExport is how many progress events are kept per export.
	ProgressPerExport int64 `yaml:"progressPerExport"`
	// Timeout bounds each request a Store makes to JetStream.
	Timeout time.Duration `yaml:"timeout"`
}

// streamName is what JetStream takes as a stream or bucket name.
var streamName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// subjectToken is what a prefix may be: dot-separated tokens without
// wildcards.
var subjectToken = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// withDefaults is c with every zero field given its default.
func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = api.DefaultPrefix // the service's own subjects'
	}
	if c.Bucket == "" {
		c.Bucket = "EXPORTD_EXPORTS"
	}
	if c.WorkStream == "" {
		c.WorkStream = "EXPORTD_WORK"
	}
	if c.ProgressStream == "" {
		c.ProgressStream = "EXPORTD_PROGRESS"
	}
	if c.Replicas == 0 {
		c.Replicas = 1 // what a single server can keep; a cluster sets 3
	}
	if c.LeaseTTL == 0 {
		// Long enough that a busy node's keep-alives (every third of it)
		// are not late, short enough that a dead node's export resumes
		// soon.
		c.LeaseTTL = 30 * time.Second
	}
	if c.ProgressMaxAge == 0 {
		c.ProgressMaxAge = 24 * time.Hour // a day to look an export's last event up
	}
	if c.ProgressPerExport == 0 {
		c.ProgressPerExport = 1000 // the last event is all a new owner needs
	}
	if c.Timeout == 0 {
		// A stream leader's election (nats-server waits 4 to 9 s for a
		// lost leader) fits, so a node's death fails no operation.
		c.Timeout = 15 * time.Second
	}
	return c
}

// Validate says which field of c, with its defaults, is wrong.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, f := range []struct{ name, value string }{{"bucket", c.Bucket}, {"workStream", c.WorkStream}, {"progressStream", c.ProgressStream}} {
		if !streamName.MatchString(f.value) {
			return fmt.Errorf("cluster %s %q: only letters, digits, - and _", f.name, api.Clip(f.value, 64))
		}
	}
	switch {
	case !subjectToken.MatchString(c.Prefix):
		return fmt.Errorf("cluster prefix %q: dot-separated tokens of letters, digits, - and _", api.Clip(c.Prefix, 64))
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("cluster replicas %d: 1 to 5", c.Replicas)
	case c.LeaseTTL < 500*time.Millisecond:
		return fmt.Errorf("cluster leaseTTL %s: at least 500ms", c.LeaseTTL)
	case c.ProgressMaxAge < 0:
		return fmt.Errorf("cluster progressMaxAge %s: not negative", c.ProgressMaxAge)
	case c.ProgressPerExport < 1:
		return fmt.Errorf("cluster progressPerExport %d: at least 1", c.ProgressPerExport)
	case c.Timeout < 0:
		return fmt.Errorf("cluster timeout %s: not negative", c.Timeout)
	}
	return nil
}

// attempt is how long one request may take before it is sent again (see
// bucket): a request lost with its server costs that much. JetStream
// answers in milliseconds, so a second is plenty; a fifth of Timeout if
// that is less, so that an operation has several tries.
func attempt(c Config) time.Duration {
	return min(max(c.withDefaults().Timeout/5, 100*time.Millisecond), time.Second)
}
