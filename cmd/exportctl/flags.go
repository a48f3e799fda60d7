package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exportd/exportd/api"
)

// config is one exportctl command line.
type config struct {
	// Command is start, watch, status, list, cancel, resume, delete or
	// get; ID is its export id, for all but start and list.
	Command, ID string

	// NATSURL is the broker; Creds, NKey (a user seed file) and Token
	// authenticate to it, as the daemon's own settings do.
	NATSURL, Creds, NKey, Token, Prefix string
	// HTTPToken is the daemon's API token, sent as a bearer token with
	// every HTTP request.
	HTTPToken string
	Timeout   time.Duration
	HTTPURL   string
	// JSON prints replies as the service gives them.
	JSON bool

	// Request is start's request from flags; RequestFile, when set, holds
	// the JSON request instead ("-" for stdin). Wait makes start watch
	// the export and then get it.
	Request     api.Request
	RequestFile string
	Wait        bool
	// State filters list.
	State string

	// Out is get's directory (default: the export id), Parallel how many
	// chunks download at once; Decompress also writes <id>.<format>.
	// DataURL is a start reply's dataUrl: signed, the chunks are fetched
	// as byte ranges of it.
	Out        string
	Parallel   int
	Decompress bool
	DataURL    string
}

// requestFlags are start's flags that make the request.
var requestFlags = []string{"db", "collection", "filter", "sort", "fields", "format", "compression", "json-format",
	"chunk-records", "chunk-bytes", "batch-size", "progress-every", "request-id", "profile", "skip", "limit",
	"json-array", "csv-arrays", "csv-array-separator", "csv-bom", "csv-formula-guard", "csv-header"}

// parseArgs turns the command line into a config. Global flags go before
// or after the command; flags and the id come in any order.
func parseArgs(args []string, getenv func(string) string) (*config, error) {
	cfg := &config{
		NATSURL:   cmp.Or(getenv("EXPORTCTL_NATS_URL"), "nats://127.0.0.1:4222"),
		HTTPURL:   cmp.Or(getenv("EXPORTCTL_HTTP_URL"), "http://127.0.0.1:8080"), // exportd serve's --http-addr
		Token:     getenv("EXPORTCTL_NATS_TOKEN"),
		HTTPToken: getenv("EXPORTCTL_HTTP_TOKEN"),
		Prefix:    "exports",
		Timeout:   30 * time.Second,
		Parallel:  4, // enough to fill a link, few enough to be polite
	}
	top := newFlagSet("exportctl", cfg)
	if err := top.Parse(args); err != nil {
		return nil, usageErr(top, err)
	}
	if top.NArg() == 0 {
		return nil, fmt.Errorf("%w: no command\n\n%s", errUsage, usage)
	}
	cfg.Command = top.Arg(0)
	fs := newFlagSet("exportctl "+cfg.Command, cfg)
	wantID := true
	switch cfg.Command {
	case "start":
		r := &cfg.Request
		fs.StringVar(&r.Database, "db", "", "database")
		fs.StringVar(&r.Collection, "collection", "", "collection")
		fs.Func("filter", "query, in Extended JSON", jsonFlag(&r.Filter))
		fs.Func("sort", `sort document, in Extended JSON (default {"_id": 1})`, jsonFlag(&r.Sort))
		fs.Func("fields", "comma-separated field paths (default all; csv needs them)", func(s string) error {
			for f := range strings.SplitSeq(s, ",") {
				r.Fields = append(r.Fields, strings.TrimSpace(f))
			}
			return nil
		})
		fs.StringVar((*string)(&r.Format), "format", "", "ndjson, json or csv (default ndjson)")
		fs.StringVar((*string)(&r.Compression), "compression", "", "zstd, gzip or none (default zstd)")
		fs.StringVar(&r.JSONFormat, "json-format", "", "relaxed or canonical (default relaxed)")
		fs.Int64Var(&r.ChunkRecords, "chunk-records", 0, "records per chunk at most (default 100000)")
		fs.Int64Var(&r.ChunkBytes, "chunk-bytes", 0, "uncompressed bytes per chunk at most (default 64 MiB)")
		fs.Int64Var(&r.BatchSize, "batch-size", 0, "cursor batch size (default 1000)")
		fs.Int64Var(&r.ProgressEvery, "progress-every", 0, "records between progress events (default 1000)")
		fs.Int64Var(&r.Skip, "skip", 0, "leave out the first N records of the sorted result")
		fs.Int64Var(&r.Limit, "limit", 0, "export at most N records (0 = all)")
		fs.BoolVar(&r.JSONArray, "json-array", false, `format json as one JSON array of the documents instead of {"exportInfo": …, "documents": [ … ]}`)
		fs.StringVar(&r.CSVArrays, "csv-arrays", "", "how a csv cell holds an array: json (the default) or join (its items joined by --csv-array-separator)")
		fs.StringVar(&r.CSVArraySeparator, "csv-array-separator", "", `what goes between a joined array's items (default "; ")`)
		fs.BoolFunc("csv-bom", "start a csv export with a UTF-8 byte order mark", boolField(&r.CSVBOM))
		fs.BoolFunc("csv-formula-guard", "=false: no ' before a csv cell a spreadsheet would run as a formula (default true)", boolField(&r.CSVFormulaGuard))
		fs.BoolFunc("csv-header", "=false: a csv export without its header line (default true)", boolField(&r.CSVHeader))
		fs.StringVar(&r.RequestID, "request-id", "", "client key: the same key returns the same export")
		fs.StringVar(&r.Profile, "profile", "", "request profile (configs/profiles/<name>.yaml)")
		fs.StringVar(&cfg.RequestFile, "request", "", "the JSON export request from this file ('-' for stdin) instead of flags")
		fs.BoolVar(&cfg.Wait, "wait", false, "then watch the export and download it like get")
		addGetFlags(fs, cfg)
		wantID = false
	case "list":
		fs.StringVar(&cfg.State, "state", "", "only exports in this state (queued, running, completed, failed, cancelled)")
		wantID = false
	case "get":
		addGetFlags(fs, cfg)
		fs.StringVar(&cfg.DataURL, "data-url", "", "the start reply's dataUrl: needed when the daemon signs download URLs")
	case "watch", "status", "cancel", "resume", "delete":
	default:
		return nil, fmt.Errorf("%w: unknown command %q\n\n%s", errUsage, cfg.Command, usage)
	}
	var pos []string
	for rest := top.Args()[1:]; ; rest = fs.Args()[1:] { // flags before, between and after the id
		if err := fs.Parse(rest); err != nil {
			return nil, usageErr(fs, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
	}
	switch {
	case wantID && len(pos) != 1:
		return nil, fmt.Errorf("%w: %s takes one export id, got %q", errUsage, cfg.Command, pos)
	case !wantID && len(pos) != 0:
		return nil, fmt.Errorf("%w: %s takes no arguments, got %q", errUsage, cfg.Command, pos)
	case cfg.Parallel < 1:
		return nil, fmt.Errorf("%w: --parallel must be at least 1", errUsage)
	case wantID:
		cfg.ID = pos[0]
	}
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		if cfg.RequestFile != "" && slices.Contains(requestFlags, f.Name) {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s cannot be combined with --request", errUsage, strings.Join(bad, ", "))
	}
	return cfg, nil
}

// jsonFlag sets dst to a flag's value, which must be JSON.
func jsonFlag(dst *json.RawMessage) func(string) error {
	return func(s string) error {
		if !json.Valid([]byte(s)) {
			return errors.New("not valid JSON")
		}
		*dst = json.RawMessage(s)
		return nil
	}
}

// newFlagSet is a flag set with the global flags, whose defaults are what
// cfg holds so far.
func newFlagSet(name string, cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "NATS server ($EXPORTCTL_NATS_URL)")
	fs.StringVar(&cfg.Creds, "creds", cfg.Creds, "NATS credentials file")
	fs.StringVar(&cfg.NKey, "nkey", cfg.NKey, "NATS user nkey seed file")
	fs.StringVar(&cfg.Token, "token", cfg.Token, "NATS token ($EXPORTCTL_NATS_TOKEN)")
	fs.StringVar(&cfg.HTTPToken, "http-token", cfg.HTTPToken, "exportd's API token for HTTP, sent as a bearer token ($EXPORTCTL_HTTP_TOKEN)")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "subject prefix of the exportd service")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound of one NATS request, or of the wait for an HTTP response")
	fs.StringVar(&cfg.HTTPURL, "http-url", cfg.HTTPURL, "exportd's HTTP server, for downloads ($EXPORTCTL_HTTP_URL)")
	fs.BoolVar(&cfg.JSON, "json", cfg.JSON, "print the service's JSON reply")
	return fs
}

func addGetFlags(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.Out, "out", "", "download directory (default: the export id)")
	fs.IntVar(&cfg.Parallel, "parallel", cfg.Parallel, "chunks downloaded at once")
	fs.BoolVar(&cfg.Decompress, "decompress", false, "also write <out>/<id>.<format>: the chunks decompressed, in order")
}

// usageErr prints the flags for -h (and returns flag.ErrHelp), else wraps
// err as a usage error.
func usageErr(fs *flag.FlagSet, err error) error {
	if err != flag.ErrHelp {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	fmt.Printf("%s\nflags of %s:\n", usage, fs.Name())
	fs.SetOutput(os.Stdout)
	fs.PrintDefaults()
	return err
}

// requestBody is the JSON that start sends: the file as it is (the
// service checks it and names what is wrong), or the flags' request.
func requestBody(cfg *config, stdin io.Reader) ([]byte, error) {
	switch cfg.RequestFile {
	case "":
		return json.Marshal(&cfg.Request)
	case "-":
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(cfg.RequestFile)
	if err != nil {
		return nil, fmt.Errorf("%w: --request: %v", errUsage, err)
	}
	return data, nil
}

// boolField sets *dst when the flag is given, so that a request holds
// only the booleans asked for and the daemon's defaults decide the rest.
func boolField(dst **bool) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		*dst = &v
		return nil
	}
}
