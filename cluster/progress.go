package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Progress keeps the progress events of the cluster's exports in a
// stream over <prefix>.progress.>, so that a node that takes an export
// over can continue its events after the last one published, by any node.
// The events are published as before, on core NATS; the stream only
// keeps them.
type Progress struct {
	stream  jetstream.Stream
	attempt time.Duration
}

// OpenProgress makes (or updates to cfg) the progress stream: each
// export's last ProgressPerExport events, none older than ProgressMaxAge,
// the oldest dropped first.
func OpenProgress(ctx context.Context, js jetstream.JetStream, cfg Config) (*Progress, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: cfg.ProgressStream, Description: "exportd progress events", Subjects: []string{cfg.Prefix + ".progress.>"},
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: cfg.ProgressMaxAge,
		MaxMsgsPerSubject: cfg.ProgressPerExport, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("progress stream %s: %w", cfg.ProgressStream, err)
	}
	return &Progress{stream: stream, attempt: attempt(cfg)}, nil
}

// LastEvent returns the last event stored on subject (an export's
// api.ProgressSubject) and its stream sequence; ErrNoEvent if none is.
func (p *Progress) LastEvent(ctx context.Context, subject string) (data []byte, seq uint64, err error) {
	var msg *jetstream.RawStreamMsg
	err = retry(ctx, p.attempt, func(ctx context.Context) error {
		msg, err = p.stream.GetLastMsgForSubject(ctx, subject)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNoEvent, subject)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("last event of %s: %w", subject, err)
	}
	return msg.Data, msg.Sequence, nil
}
