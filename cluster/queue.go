package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// workConsumer is the durable pull consumer every node shares.
const workConsumer = "workers"

// Queue hands exports to the nodes of a cluster: a work-queue stream of
// export ids that one durable pull consumer, shared by every node, reads.
// A message is a job's lease: acked when the export ends, handed to
// another node when its holder stops renewing it for a lease. It is safe
// for concurrent use.
type Queue struct {
	js      jetstream.JetStream
	cons    jetstream.Consumer
	subject string // <prefix>.work.
	ttl     time.Duration
	attempt time.Duration
}

// OpenQueue makes (or updates to cfg) the work stream and its consumer.
// The consumer delivers a message any number of times (MaxDeliver
// unlimited): a message holds only an export id, so it cannot poison a
// node, and an export whose nodes die one after the other must still be
// resumed by the next; an export that fails for its own reasons is
// recorded failed and its job acked, not dropped by a redelivery count.
func OpenQueue(ctx context.Context, js jetstream.JetStream, cfg Config) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	subject := cfg.Prefix + ".work."
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: cfg.WorkStream, Description: "exportd exports to run", Subjects: []string{subject + "*"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("work stream %s: %w", cfg.WorkStream, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: workConsumer, Description: "exportd nodes", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cfg.LeaseTTL, MaxDeliver: -1, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("work consumer of %s: %w", cfg.WorkStream, err)
	}
	return &Queue{js: js, cons: cons, subject: subject, ttl: cfg.LeaseTTL, attempt: attempt(cfg)}, nil
}

// Enqueue queues export id to run. gen tells one queuing of the export
// from the next: the message's Nats-Msg-Id is <id>.<gen>, so that a
// publish sent again (as it is when its server does not answer) within
// the stream's duplicate window (two minutes) is stored once, and a resume, with a new gen (the export's resume count,
// say), queues it again.
func (q *Queue) Enqueue(ctx context.Context, id string, gen uint64) error {
	msgID := jetstream.WithMsgID(id + "." + strconv.FormatUint(gen, 10))
	err := retry(ctx, q.attempt, func(ctx context.Context) error {
		_, err := q.js.Publish(ctx, q.subject+id, nil, msgID)
		return err
	})
	if err != nil {
		return fmt.Errorf("enqueue export %s: %w", id, err)
	}
	return nil
}

// Next waits for the next job and takes it: call it only with capacity
// for one more export, since the job's lease runs from then on. It
// returns ctx's error once ctx ends; a job handed out at that very moment
// goes to another node after its lease.
func (q *Queue) Next(ctx context.Context) (*Job, error) {
	for {
		msg, err := q.cons.Next(jetstream.FetchContext(ctx))
		if d, ok := ctx.Deadline(); err != nil && ok && !time.Now().Before(d) {
			<-ctx.Done() // a pull refused for a deadline just past
		}
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, nats.ErrTimeout):
			continue // no job during one pull request
		case err != nil:
			return nil, fmt.Errorf("next job: %w", err)
		}
		var delivered uint64
		if meta, err := msg.Metadata(); err == nil {
			delivered = meta.NumDelivered
		}
		return &Job{
			ID: strings.TrimPrefix(msg.Subject(), q.subject), Delivered: delivered,
			msg: msg, ttl: q.ttl, ended: make(chan struct{}),
		}, nil
	}
}

// Job is one export handed to this node, held as long as KeepAlive is
// called within every lease and until Done or Handover.
type Job struct {
	// ID is the export to run.
	ID string
	// Delivered counts the times the job was handed out, this one too:
	// above 1, another node had it before (and the export is resumed).
	Delivered uint64

	msg   jetstream.Msg
	ttl   time.Duration
	end   sync.Once
	ended chan struct{}
}

// KeepAlive renews the job's lease for another LeaseTTL.
func (j *Job) KeepAlive() error { return j.msg.InProgress() }

// Hold renews the job's lease every third of LeaseTTL until the job is
// done or handed over (nil), or ctx ends (nil: the caller stops holding).
// It returns ErrLeaseLost if no renewal went out for a whole lease:
// another node may have the export, and this one's commits will fail.
// Run it in a goroutine of the export's owner.
func (j *Job) Hold(ctx context.Context) error {
	tick := time.NewTicker(j.ttl / 3)
	defer tick.Stop()
	renewed := time.Now()
	for {
		select {
		case <-tick.C:
			err := j.KeepAlive()
			if err == nil {
				renewed = time.Now()
			} else if time.Since(renewed) >= j.ttl {
				return fmt.Errorf("%w: export %s: %w", ErrLeaseLost, j.ID, err)
			}
		case <-j.ended:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// Done acks the job, and waits for the server to confirm, so that a job
// done is never handed out again. Call it once the export's state is
// final (or the export is gone).
func (j *Job) Done(ctx context.Context) error {
	j.stop()
	if err := j.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("ack job %s: %w", j.ID, err)
	}
	return nil
}

// Handover gives the job back at once (a Nak without delay): another
// node waiting in Next takes it now, not after the lease. For a node that
// drains, as on SIGTERM.
func (j *Job) Handover() error {
	j.stop()
	if err := j.msg.Nak(); err != nil {
		return fmt.Errorf("hand job %s over: %w", j.ID, err)
	}
	return nil
}

func (j *Job) stop() { j.end.Do(func() { close(j.ended) }) }

// Waiting is the number of jobs no node has taken.
func (q *Queue) Waiting(ctx context.Context) (int, error) {
	info, err := q.cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("work queue: %w", err)
	}
	return int(info.NumPending), nil
}
