package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bucket is the key-value bucket as the store uses it. A request is sent
// again while it fails for want of a server: one in flight when its
// server goes away is lost, not refused, and a stream electing a leader
// refuses requests for a moment. A write sent again is recognised as done
// when the bucket holds what it wrote (its first sending landed), so that
// a retry never reports a conflict with itself.
type bucket struct {
	kv jetstream.KeyValue
	// stream is the bucket's stream, and subjects its subjects' prefix
	// ($KV.<bucket>.), for the count of keys that checks a watch.
	stream   jetstream.Stream
	subjects string
	// attempt is how long one sending may take.
	attempt time.Duration
}

func (b *bucket) get(ctx context.Context, key string) (ent jetstream.KeyValueEntry, err error) {
	err = retry(ctx, b.attempt, func(ctx context.Context) error {
		ent, err = b.kv.Get(ctx, key)
		return err
	})
	return ent, err
}

// create writes key if it does not exist; jetstream.ErrKeyExists if it
// does.
func (b *bucket) create(ctx context.Context, key string, value []byte) error {
	return b.write(ctx, key, value, jetstream.ErrKeyExists, func(ctx context.Context) error {
		_, err := b.kv.Create(ctx, key, value)
		return err
	})
}

// update writes key if its revision is rev; jetstream.ErrKeyRevisionMismatch
// if it is not.
func (b *bucket) update(ctx context.Context, key string, value []byte, rev uint64) error {
	return b.write(ctx, key, value, jetstream.ErrKeyRevisionMismatch, func(ctx context.Context) error {
		_, err := b.kv.Update(ctx, key, value, rev)
		return err
	})
}

// purge removes key and its history: if its revision is rev, unless rev
// is 0 (jetstream.ErrKeyRevisionMismatch otherwise).
func (b *bucket) purge(ctx context.Context, key string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev > 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	return b.write(ctx, key, nil, jetstream.ErrKeyRevisionMismatch, func(ctx context.Context) error {
		return b.kv.Purge(ctx, key, opts...)
	})
}

// write sends a write of value (nil: a purge) to key, again while it
// fails for want of a server; a sending after the first that fails with
// conflict succeeded if key holds value (or, for a purge, nothing).
func (b *bucket) write(ctx context.Context, key string, value []byte, conflict error, send func(context.Context) error) error {
	again := false
	return retry(ctx, b.attempt, func(ctx context.Context) error {
		err := send(ctx)
		if again && errors.Is(err, conflict) && b.holds(ctx, key, value) {
			err = nil
		}
		again = true
		return err
	})
}

// holds reports whether key holds value, or no value when value is nil.
func (b *bucket) holds(ctx context.Context, key string, value []byte) bool {
	ent, err := b.kv.Get(ctx, key)
	if value == nil {
		return errors.Is(err, jetstream.ErrKeyNotFound)
	}
	return err == nil && bytes.Equal(ent.Value(), value)
}

// entries returns the live entries whose keys match filter, in no order;
// with metaOnly, without their values. A watch's first snapshot can end
// early while a replica catches up after a restart (its consumer may run
// there), so the watch is checked against the stream leader's count of
// the filter's keys, removed ones included, taken first, and read again
// while it is short. Its values can lag as much: entries is for listings,
// never for a read that a change is based on.
func (b *bucket) entries(ctx context.Context, filter string, metaOnly bool) ([]jetstream.KeyValueEntry, error) {
	var want int
	err := retry(ctx, b.attempt, func(ctx context.Context) error {
		info, err := b.stream.Info(ctx, jetstream.WithSubjectFilter(b.subjects+filter))
		if err == nil {
			want = len(info.State.Subjects)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("count keys %s: %w", filter, err)
	}
	var opts []jetstream.WatchOpt
	if metaOnly {
		opts = append(opts, jetstream.MetaOnly())
	}
	for n := 0; ; n++ {
		if err := pause(ctx, n); err != nil {
			return nil, fmt.Errorf("read keys %s: %d keys, short of %d: %w", filter, n, want, err)
		}
		var all []jetstream.KeyValueEntry
		err := retry(ctx, b.attempt, func(ctx context.Context) (err error) {
			all, err = watchAll(ctx, b.kv, filter, opts)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read keys %s: %w", filter, err)
		}
		last := map[string]jetstream.KeyValueEntry{}
		for _, ent := range all {
			last[ent.Key()] = ent // an update during the watch comes after
		}
		if len(last) < want {
			continue
		}
		var live []jetstream.KeyValueEntry
		for _, ent := range last {
			if ent.Operation() == jetstream.KeyValuePut {
				live = append(live, ent)
			}
		}
		return live, nil
	}
}

// watchAll reads a watch of filter up to the marker that says every
// entry present at its start was delivered.
func watchAll(ctx context.Context, kv jetstream.KeyValue, filter string, opts []jetstream.WatchOpt) ([]jetstream.KeyValueEntry, error) {
	w, err := kv.Watch(ctx, filter, opts...)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case ent, ok := <-w.Updates():
			switch {
			case !ok:
				return nil, errors.New("the watch ended early")
			case ent == nil:
				return out, nil
			}
			out = append(out, ent)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// retry calls fn, each call bounded by attempt, until it succeeds, fails
// for another reason than a missing server, or ctx ends.
func retry(ctx context.Context, attempt time.Duration, fn func(context.Context) error) error {
	for n := 0; ; n++ {
		if err := pause(ctx, n); err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !unavailable(err) {
			return err
		}
	}
}

// unavailable reports whether err says the request was not decided: no
// server answered (a request lost or timed out, no responders, JetStream
// unavailable while a leader is elected), or the stream leader still has
// a write of the same key in flight (code 10164, which nats.go reports as
// ErrKeyExists or ErrKeyRevisionMismatch: the key's revision is not known
// until it lands, and a request lost in a failover can leave one).
func unavailable(err error) bool {
	if apiErr, ok := errors.AsType[*jetstream.APIError](err); ok {
		return apiErr.Code == 503 || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// pause waits before try n: not before the first, then a random time
// that doubles with each try up to a quarter second, so that two writers
// fall out of step.
func pause(ctx context.Context, n int) error {
	if n == 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(rand.Int64N(int64(2*time.Millisecond) << min(n, 7))))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
