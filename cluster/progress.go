package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Progress keeps the progress events of the cluster's exports in a
// stream, so that a node that takes an export over can continue its events
// after the last one published, by any node. A node appends each event on
// <prefix>.history.<exportId>, which the stream takes; once the event is
// stored (on a majority of the stream's replicas), the stream's leader
// republishes it on <prefix>.progress.<exportId>, where subscribers follow
// it. So no subscriber sees an event the stream may still lose: when a
// node and the stream's leader die together, the new owner's first event
// carries the next seq after the last one anybody saw.
type Progress struct {
	stream  jetstream.Stream
	js      jetstream.JetStream
	public  string // <prefix>.progress.
	stored  string // <prefix>.history.
	attempt time.Duration
}

// OpenProgress makes (or updates to cfg) the progress stream: each
// export's last ProgressPerExport events, none older than ProgressMaxAge,
// the oldest dropped first, each republished on its progress subject once
// stored. A retried append is recognised within two minutes.
func OpenProgress(ctx context.Context, js jetstream.JetStream, cfg Config) (*Progress, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Progress{js: js, public: cfg.Prefix + ".progress.", stored: cfg.Prefix + ".history.", attempt: attempt(cfg)}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: cfg.ProgressStream, Description: "exportd progress events", Subjects: []string{p.stored + ">"},
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: cfg.ProgressMaxAge,
		MaxMsgsPerSubject: cfg.ProgressPerExport, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		Duplicates: min(dedupeWindow, cfg.ProgressMaxAge),
		RePublish:  &jetstream.RePublish{Source: p.stored + ">", Destination: p.public + ">"},
	})
	if err != nil {
		return nil, fmt.Errorf("progress stream %s: %w", cfg.ProgressStream, err)
	}
	p.stream = stream
	return p, nil
}

// dedupeWindow is how long the progress stream remembers the id of an
// appended event, so that an append retried after a lost answer stores
// (and republishes) the event once.
const dedupeWindow = 2 * time.Minute

// storedSubject is where the stream takes the events of subject, an
// export's api.ProgressSubject.
func (p *Progress) storedSubject(subject string) (string, error) {
	id, ok := strings.CutPrefix(subject, p.public)
	if !ok || id == "" || strings.ContainsAny(id, ".*> ") {
		return "", fmt.Errorf("%q is not a progress subject under %s*", subject, p.public)
	}
	return p.stored + id, nil
}

// Append stores data, the JSON of an event on subject (an export's
// api.ProgressSubject), provided the last event stored for subject is the
// one at position after (0: none is), and returns the new event's position
// once the stream has it; the stream then republishes it on subject. When
// another event was stored since, it stores nothing and returns stored
// false: the caller looks the last one up and numbers its event after it.
// msgID names the event: appending the same id again within two minutes
// (after an error that left it unknown whether the first was stored)
// stores nothing more and returns the first one's position. Append retries
// while the stream cannot answer (a leader being elected) until ctx ends.
func (p *Progress) Append(ctx context.Context, subject string, data []byte, msgID string, after uint64) (pos uint64, stored bool, err error) {
	to, err := p.storedSubject(subject)
	if err != nil {
		return 0, false, err
	}
	msg := &nats.Msg{Subject: to, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(after, 10))
	var ack *jetstream.PubAck
	err = retry(ctx, p.attempt, func(ctx context.Context) error {
		ack, err = p.js.PublishMsg(ctx, msg)
		return err
	})
	if apiErr, ok := errors.AsType[*jetstream.APIError](err); ok && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("append to %s: %w", to, err)
	}
	return ack.Sequence, true, nil
}

// LastEvent returns the last event stored for subject (an export's
// api.ProgressSubject) and its stream sequence; ErrNoEvent if none is.
func (p *Progress) LastEvent(ctx context.Context, subject string) (data []byte, seq uint64, err error) {
	from, err := p.storedSubject(subject)
	if err != nil {
		return nil, 0, err
	}
	var msg *jetstream.RawStreamMsg
	err = retry(ctx, p.attempt, func(ctx context.Context) error {
		msg, err = p.stream.GetLastMsgForSubject(ctx, from)
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

// Tail calls fn with each of the last n events stored (of every export),
// oldest first, up to the last one stored when Tail was called, each with
// the subject it was published on (an export's api.ProgressSubject): what
// a node that just started replays to its event streams' clients. It
// returns when it has read them, or with ctx's error.
func (p *Progress) Tail(ctx context.Context, n uint64, fn func(subject string, data []byte)) error {
	var info *jetstream.StreamInfo
	err := retry(ctx, p.attempt, func(ctx context.Context) (err error) {
		info, err = p.stream.Info(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("progress stream: %w", err)
	}
	st := info.State
	if st.Msgs == 0 || n == 0 {
		return nil
	}
	start := st.FirstSeq
	if st.LastSeq >= n && st.LastSeq-n+1 > start {
		start = st.LastSeq - n + 1
	}
	var cons jetstream.Consumer
	err = retry(ctx, p.attempt, func(ctx context.Context) (err error) {
		cons, err = p.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{p.stored + ">"}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("progress stream: a consumer: %w", err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(tailBatch, jetstream.FetchMaxWait(tailWait))
		if err != nil {
			return fmt.Errorf("progress stream: fetch: %w", err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			md, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("progress stream: %w", err)
			}
			if id, ok := strings.CutPrefix(msg.Subject(), p.stored); ok {
				fn(p.public+id, msg.Data())
			}
			if md.Sequence.Stream >= st.LastSeq {
				return nil
			}
		}
		switch err := batch.Error(); {
		case err != nil && unavailable(err) && got == 0:
			// A new consumer whose leader is not ready yet: ask again.
			if err := pause(ctx, 3); err != nil {
				return err
			}
			continue
		case err != nil && !errors.Is(err, nats.ErrTimeout):
			return fmt.Errorf("progress stream: fetch: %w", err)
		case got == 0:
			return nil // the last ones went meanwhile (their age, their export's limit)
		}
	}
	return ctx.Err()
}

// tailBatch is how many events Tail asks the stream for at a time, and
// tailWait how long it waits for them.
const (
	tailBatch = 500
	tailWait  = time.Second
)
