package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/exportd/exportd/source"
)

// inputError is bad input found past the flags (a namespace that does not
// exist, with --strict). It exits 2, as a usage error, and says only its
// message.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// Is makes an inputError a usage error.
func (e *inputError) Is(target error) bool { return target == errUsage }

// prepareURI checks the connection string, folds --readPreference into it
// and returns the database its path names ("" when none).
func prepareURI(uri, readPref string) (string, string, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return "", "", fmt.Errorf("%w: --uri %s: %v", errUsage, source.Redact(uri), err)
	}
	if readPref == "" {
		return uri, cs.Database, nil
	}
	q, mode, err := readPrefQuery(readPref)
	if err != nil {
		return "", "", err
	}
	if cs.ReadPreference != "" || len(cs.ReadPreferenceTagSets) > 0 || cs.MaxStalenessSet {
		return "", "", fmt.Errorf("%w: --readPreference %s and the --uri's read preference options: give the read preference in one place", errUsage, mode)
	}
	_, hosts, _ := strings.Cut(uri, "://")
	switch {
	case strings.Contains(hosts, "?"):
		uri += "&" + q
	case strings.Contains(hosts, "/"):
		uri += "?" + q
	default:
		uri += "/?" + q
	}
	if _, err := connstring.ParseAndValidate(uri); err != nil {
		return "", "", fmt.Errorf("%w: --readPreference %s: %v", errUsage, readPref, err)
	}
	return uri, cs.Database, nil
}

var readPrefModes = []string{"primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"}

// readPrefQuery turns mongoexport's --readPreference (a mode, or
// {"mode": …, "tagSets": [{…}], "maxStalenessSeconds": N}) into
// connection string options.
func readPrefQuery(s string) (query, mode string, err error) {
	var rp struct {
		Mode                string              `json:"mode"`
		TagSets             []map[string]string `json:"tagSets"`
		MaxStalenessSeconds *int64              `json:"maxStalenessSeconds"`
	}
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		if err := json.Unmarshal([]byte(s), &rp); err != nil {
			return "", "", fmt.Errorf("%w: --readPreference: %v (a mode, or {\"mode\": …, \"tagSets\": [{…}], \"maxStalenessSeconds\": N})", errUsage, err)
		}
	} else {
		rp.Mode = s
	}
	i := slices.IndexFunc(readPrefModes, func(m string) bool { return strings.EqualFold(m, rp.Mode) })
	if i < 0 {
		return "", "", fmt.Errorf("%w: --readPreference: unknown mode %q (one of %s)", errUsage, rp.Mode, strings.Join(readPrefModes, ", "))
	}
	mode = readPrefModes[i]
	v := url.Values{"readPreference": {mode}}
	for _, set := range rp.TagSets {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range set {
				if !yield(k) {
					return
				}
			}
		})
		var tags []string
		for _, k := range keys {
			tags = append(tags, k+":"+set[k])
		}
		v.Add("readPreferenceTags", strings.Join(tags, ","))
	}
	if rp.MaxStalenessSeconds != nil {
		v.Set("maxStalenessSeconds", strconv.FormatInt(*rp.MaxStalenessSeconds, 10))
	}
	return v.Encode(), mode, nil
}

// connectMongo is source.Connect with a short error: the cause per server, not
// the driver's description of the topology.
func connectMongo(ctx context.Context, uri string, timeout time.Duration) (*mongo.Client, error) {
	client, err := source.Connect(ctx, uri, timeout)
	if err != nil {
		var sse topology.ServerSelectionError
		if errors.As(err, &sse) {
			return nil, fmt.Errorf("cannot reach MongoDB at %s within %s: %s", source.Redact(uri), timeout, selectionCause(sse))
		}
		return nil, err
	}
	return client, nil
}

// shortMongoErr replaces, in err's message, the driver's server selection
// error (which describes the whole topology) with its causes, and its
// connection error (the connection's id, the socket's both ends) with the
// server and the cause. err stays in the chain.
func shortMongoErr(err error) error {
	var sse topology.ServerSelectionError
	var ce topology.ConnectionError
	var long, short string
	switch {
	case err == nil:
		return nil
	case errors.As(err, &sse):
		long, short = sse.Error(), "cannot reach MongoDB: "+selectionCause(sse)
	case errors.As(err, &ce):
		short = "lost the connection to MongoDB"
		if addr, _, _ := strings.Cut(ce.ConnectionID, "["); addr != "" {
			short += " at " + addr // the id is HOST:PORT[-N]
		}
		if ce.Wrapped != nil {
			short += ": " + shortCause(ce.Wrapped)
		}
		long = ce.Error()
	default:
		return err
	}
	return &rewordedError{msg: strings.Replace(err.Error(), long, short, 1), err: err}
}

// rewordedError is err with a shorter message.
type rewordedError struct {
	msg string
	err error
}

func (e *rewordedError) Error() string { return e.msg }
func (e *rewordedError) Unwrap() error { return e.err }

// selectionCause says why no server could be selected: each server's last
// error, short ("127.0.0.1:1: connection refused").
func selectionCause(sse topology.ServerSelectionError) string {
	var causes []string
	for _, s := range sse.Desc.Servers {
		if s.LastError != nil {
			causes = append(causes, s.Addr.String()+": "+shortCause(s.LastError))
		}
	}
	if len(causes) == 0 {
		if errors.Is(sse.Wrapped, context.DeadlineExceeded) || sse.Wrapped == nil {
			return "no server answered in time (for a replica set, check its name and that a member is reachable)"
		}
		return shortCause(sse.Wrapped)
	}
	return strings.Join(causes, "; ")
}

// shortCause is the root of a connection failure, in a few words.
func shortCause(err error) string {
	var dns *net.DNSError
	var errno syscall.Errno
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by the server"
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name + ": " + dns.Err
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// missingNamespace says whether db.coll does not exist, with a message
// that suggests a near name. A server that will not list collections (no
// privilege) is taken at its word: ok is false, the export goes on.
func missingNamespace(ctx context.Context, client *mongo.Client, db, coll string) (msg string, missing bool) {
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil || slices.Contains(names, coll) {
		return "", false
	}
	msg = db + "." + coll + " does not exist"
	if len(names) == 0 {
		return msg + " (database " + db + " has no collections)", true
	}
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(n), strings.ToLower(coll)); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		msg += " (did you mean " + db + "." + best + "?)"
	}
	return msg, true
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
