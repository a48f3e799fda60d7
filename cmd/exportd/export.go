package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/exportd/exportd/request"
)

// exportConfig is everything exportd export runs with.
type exportConfig struct {
	URI string
	// Out is --out as given: a directory, a file or "-" (see resolveOutput).
	Out     string
	Request request.Request
	// RequestFile, when set, replaces the request flags.
	RequestFile string
	// Strict makes a namespace that does not exist an error instead of a
	// warning and an empty export.
	Strict bool
	// ReadPreference is mongoexport's --readPreference, folded into URI.
	ReadPreference string
	Workers        int
	Level          int
	Retries        int
	SelectTimeout  time.Duration
	Quiet          bool
	Count          bool
	// ProfilesDir holds the request profiles a --request file may name;
	// ProfilesGiven says --profiles named it (then it must exist).
	ProfilesDir   string
	ProfilesGiven bool
	// Profiles are pprof files to write (--cpuprofile, --memprofile).
	Profiles profiles
}

const exportUsage = `usage: exportd export --uri URI --db DB --collection C [flags] --out DIR|FILE|-
   or: exportd export --uri URI --request FILE --out DIR|FILE|-

--out names where the export goes:
  DIR   an existing directory, a path ending in '/', or a name without a data
        extension: the chunks, manifest.json and the checkpoint; the same
        command resumes an interrupted export
  FILE  a name ending in .ndjson, .jsonl, .json or .csv, optionally followed by
        .zst/.zstd or .gz (or just .zst/.gz): the whole export as one file,
        compressed as the name says; it is made in FILE.exportd/, which the
        same command resumes, and renamed into place when complete
  -     standard output (uncompressed unless --compression says otherwise);
        cannot resume

mongoexport's flags work where they mean the same: -d/--db, -c/--collection,
-q/--query, --queryFile, -f/--fields, --fieldFile, --type json|csv (json is one
document per line: --format ndjson), -o/--out, --jsonFormat, --sort, --skip,
--limit, --readPreference, --assertExists, --jsonArray (one JSON array:
--format json --json-array), --noHeaderLine (--csv-header=false), --quiet;
the database may be the --uri's path (mongodb://HOST/DB). The others are
refused with what to use.

exit status: 0 the export is complete; 1 it failed (an unreachable server,
a lost connection: where --out can resume, the message says so); 2 bad
usage or input (nothing was created); 130 interrupted; 141 standard output
was closed.

flags:`

// requestFlags are the flags that make the request; --request replaces
// them all.
var requestFlags = []string{"db", "d", "collection", "c", "filter", "query", "q", "queryFile", "sort", "fields", "f", "fieldFile",
	"format", "type", "compression", "json-format", "jsonFormat", "chunk-records", "chunk-bytes", "batch-size", "skip", "limit",
	"csv-arrays", "csv-array-separator", "csv-bom", "csv-formula-guard", "csv-header", "noHeaderLine", "json-array", "jsonArray"}

func parseExportFlags(args []string) (*exportConfig, error) {
	var cfg exportConfig
	var filter, queryFile, sort, fields, fieldFile, format, typ, compression, jsonFormat string
	var chunkRecords, chunkBytes, batchSize int64
	var csvArrays, csvArraySep string
	var csvBOM, csvFormulaGuard, csvHeader, noHeaderLine, jsonArray bool
	r := &cfg.Request
	fs := flag.NewFlagSet("exportd export", flag.ContinueOnError)
	fs.StringVar(&cfg.URI, "uri", "mongodb://127.0.0.1:27017/", "MongoDB connection string; its path may name the database (mongodb://HOST/DB)")
	fs.StringVar(&r.Database, "db", "", "database (default: the --uri's path)")
	fs.StringVar(&r.Database, "d", "", "same as --db (mongoexport's name)")
	fs.StringVar(&r.Collection, "collection", "", "collection")
	fs.StringVar(&r.Collection, "c", "", "same as --collection (mongoexport's name)")
	fs.StringVar(&filter, "filter", "", "query, in Extended JSON")
	fs.StringVar(&filter, "query", "", "same as --filter (mongoexport's name)")
	fs.StringVar(&filter, "q", "", "same as --filter (mongoexport's name)")
	fs.StringVar(&queryFile, "queryFile", "", "read --filter from this file (mongoexport's name)")
	fs.StringVar(&sort, "sort", "", `sort document, in Extended JSON (default {"_id": 1}; _id always breaks ties)`)
	fs.StringVar(&fields, "fields", "", "comma-separated field paths to export (default all; csv needs them)")
	fs.StringVar(&fields, "f", "", "same as --fields (mongoexport's name)")
	fs.StringVar(&fieldFile, "fieldFile", "", "read --fields from this file, one field path per line (mongoexport's name)")
	fs.StringVar(&format, "format", "", "ndjson, json or csv (default ndjson)")
	fs.StringVar(&typ, "type", "", "mongoexport's format: json (one document per line: --format ndjson) or csv")
	fs.StringVar(&compression, "compression", "", "zstd, gzip or none (default zstd for a directory, the name's for a file, none for stdout)")
	fs.StringVar(&jsonFormat, "json-format", "", "relaxed or canonical Extended JSON (default relaxed)")
	fs.StringVar(&jsonFormat, "jsonFormat", "", "same as --json-format (mongoexport's name)")
	fs.BoolVar(&jsonArray, "json-array", false, `--format json as one JSON array of the documents, [doc, doc, …], instead of {"exportInfo": …, "documents": [ … ]} (the format unless --format or --type names another)`)
	fs.BoolVar(&jsonArray, "jsonArray", false, "same as --json-array (mongoexport's name: with --type json, too, the output is one array)")
	fs.Int64Var(&r.Skip, "skip", 0, "leave out the first N records of the sorted result")
	fs.Int64Var(&r.Limit, "limit", 0, "export at most N records (0 = all)")
	fs.Int64Var(&chunkRecords, "chunk-records", 0, "records per chunk at most (default 100000)")
	fs.Int64Var(&chunkBytes, "chunk-bytes", 0, "uncompressed bytes per chunk at most (default 64 MiB)")
	fs.Int64Var(&batchSize, "batch-size", 0, "cursor batch size (default 1000)")
	fs.StringVar(&csvArrays, "csv-arrays", "", "how a csv cell holds an array: json (its relaxed Extended JSON, the default) or join (its items' text joined by --csv-array-separator)")
	fs.StringVar(&csvArraySep, "csv-array-separator", "", `what goes between a joined array's items (default "; "; needs --csv-arrays join)`)
	fs.BoolVar(&csvBOM, "csv-bom", false, "start a csv export with a UTF-8 byte order mark, for spreadsheets that otherwise guess another encoding")
	fs.BoolVar(&csvFormulaGuard, "csv-formula-guard", true, "prefix with ' a csv cell a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR)")
	fs.BoolVar(&csvHeader, "csv-header", true, "start a csv export with its header line (=false: the rows alone)")
	fs.BoolVar(&noHeaderLine, "noHeaderLine", false, "same as --csv-header=false (mongoexport's name)")
	fs.StringVar(&cfg.Out, "out", "", "where the export goes: DIR, FILE or - (required; see above)")
	fs.StringVar(&cfg.Out, "o", "", "same as --out (mongoexport's name)")
	fs.StringVar(&cfg.RequestFile, "request", "", "read the export request from this JSON file instead of flags")
	fs.BoolVar(&cfg.Strict, "strict", false, "fail (exit 2) when the database or collection does not exist, instead of exporting 0 records")
	fs.BoolVar(&cfg.Strict, "assertExists", false, "same as --strict (mongoexport's name)")
	fs.StringVar(&cfg.ReadPreference, "readPreference", "", `read preference: a mode (primary, secondaryPreferred, …) or {"mode": …, "tagSets": […], "maxStalenessSeconds": N}`)
	fs.IntVar(&cfg.Workers, "workers", 0, "encoder goroutines (0 = one per CPU)")
	fs.IntVar(&cfg.Level, "level", 0, "compression level: zstd 1 to 22, gzip 1 to 9 (0 = default: zstd 3, gzip 6)")
	fs.IntVar(&cfg.Retries, "retries", 8, "retries in a row for failures a new cursor can cure")
	fs.DurationVar(&cfg.SelectTimeout, "server-selection-timeout", 10*time.Second, "how long to wait for the server")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no progress line")
	fs.BoolVar(&cfg.Count, "count", true, "show a total and ETA when the server can count cheaply")
	fs.StringVar(&cfg.ProfilesDir, "profiles", "configs/profiles", "directory of the request profiles a --request file may name (given, it must exist)")
	fs.StringVar(&cfg.Profiles.CPU, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.StringVar(&cfg.Profiles.Mem, "memprofile", "", "write an allocation profile to this file when the run ends (go tool pprof)")
	if err := checkRefused(fs, args); err != nil {
		return nil, err
	}
	if err := parseFlags(fs, args, exportUsage); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkAliases(set); err != nil {
		return nil, err
	}
	cfg.ProfilesGiven = set["profiles"]
	switch {
	case cfg.Workers < 0:
		return nil, fmt.Errorf("%w: --workers %d: must be 0 (one per CPU) or more", errUsage, cfg.Workers)
	case cfg.Retries < 0:
		return nil, fmt.Errorf("%w: --retries %d: must be 0 (fail at the first error) or more", errUsage, cfg.Retries)
	case cfg.SelectTimeout <= 0:
		return nil, fmt.Errorf("%w: --server-selection-timeout %s: must be more than 0", errUsage, cfg.SelectTimeout)
	}
	if cfg.Out == "" {
		return nil, fmt.Errorf("%w: --out is required: a directory, a file (tasks.ndjson.zst) or - for standard output", errUsage)
	}
	if cfg.RequestFile != "" {
		for _, name := range requestFlags {
			if set[name] {
				return nil, fmt.Errorf("%w: %s cannot be combined with --request", errUsage, dashed(name))
			}
		}
		return &cfg, nil
	}
	if typ != "" {
		var err error
		if format, err = mongoexportType(typ); err != nil {
			return nil, err
		}
	}
	if jsonArray {
		format, r.JSONArray = jsonArrayFormat(format, typ), true
	}
	r.Format, r.Compression, r.JSONFormat = request.Format(format), request.Compression(compression), jsonFormat
	r.ChunkRecords, r.ChunkBytes, r.BatchSize = chunkRecords, chunkBytes, batchSize
	r.CSVArrays, r.CSVArraySeparator = csvArrays, csvArraySep
	// The booleans go into the request only when given, so that the
	// request kept with the export says what was asked for.
	if set["csv-bom"] {
		r.CSVBOM = &csvBOM
	}
	if set["csv-formula-guard"] {
		r.CSVFormulaGuard = &csvFormulaGuard
	}
	if set["noHeaderLine"] {
		csvHeader = !noHeaderLine
	}
	if set["csv-header"] || set["noHeaderLine"] {
		r.CSVHeader = &csvHeader
	}
	if set["chunk-records"] && chunkRecords == 0 {
		r.ChunkRecords = -1 // let the request say 0 is out of range
	}
	if queryFile != "" {
		data, err := os.ReadFile(queryFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --queryFile: %v", errUsage, err)
		}
		filter = string(data)
	}
	if strings.TrimSpace(filter) != "" {
		r.Filter = json.RawMessage(filter)
	}
	if sort != "" {
		r.Sort = json.RawMessage(sort)
	}
	fieldsFlag := "fields"
	switch {
	case fieldFile != "":
		var err error
		if r.Fields, err = readListFile("fieldFile", fieldFile); err != nil {
			return nil, err
		}
		fieldsFlag = "fieldFile"
	case fields != "":
		r.Fields = strings.Split(fields, ",")
		for i := range r.Fields {
			r.Fields[i] = strings.TrimSpace(r.Fields[i])
		}
	}
	if err := checkExclusions(fieldsFlag, r.Fields); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// exportMemoryLimit is the soft heap limit of a foreground export when
// GOMEMLIMIT does not set one: the pipeline's own memory is bounded (about
// 30 MiB of buffers and compressor state), so the collector may work a
// little harder near it instead of letting the heap double between
// collections.
const exportMemoryLimit = 48 << 20

// runExport checks everything it can before it makes anything: the flags,
// the request, --out, the connection string, then (in exportTo) the server
// and the namespace.
func runExport(ctx context.Context, args []string) (err error) {
	cfg, err := parseExportFlags(args)
	if err != nil {
		return err
	}
	out, err := resolveOutput(cfg.Out)
	if err != nil {
		return err
	}
	if err := out.checkPlace(); err != nil {
		return err
	}
	uri, uriDB, err := prepareURI(cfg.URI, cfg.ReadPreference)
	if err != nil {
		return err
	}
	// The request is kept as given (a file's JSON compacted, or the flags'
	// request), before its profile is applied, as the daemon keeps it.
	req := &cfg.Request
	var reqJSON json.RawMessage
	if cfg.RequestFile != "" {
		data, err := os.ReadFile(cfg.RequestFile)
		if err != nil {
			return fmt.Errorf("%w: --request: %v", errUsage, err)
		}
		if req, err = request.Decode(data); err != nil {
			return fmt.Errorf("--request %s: %w", cfg.RequestFile, err)
		}
		reqJSON = data // compacted when it is stored
	} else if uriDB != "" {
		switch req.Database {
		case "":
			req.Database = uriDB
		case uriDB:
		default:
			return fmt.Errorf("%w: --db %s and the --uri's database %s differ: name the database in one place (to authenticate against %s, put ?authSource=%s in --uri instead)", errUsage, req.Database, uriDB, uriDB, uriDB)
		}
	}
	if req.Compression, err = out.compressionFor(req.Compression); err != nil {
		return err
	}
	profiles, err := requestProfiles(cfg.ProfilesDir, cfg.ProfilesGiven, req.Profile)
	if err != nil {
		return err
	}
	given := *req // Resolve applies the profile to req
	plan, err := request.Resolve(req, profiles)
	if err != nil {
		return shellSyntaxHint(err)
	}
	if err := out.checkFormat(plan.Format); err != nil {
		return err
	}
	if err := checkLevel(cfg.Level, plan.Compression); err != nil {
		return err
	}
	if reqJSON == nil {
		if reqJSON, err = json.Marshal(&given); err != nil {
			return err
		}
	}
	stopProfiles, err := cfg.Profiles.start()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopProfiles()) }()
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(exportMemoryLimit)
	}
	return exportTo(ctx, cfg, out, uri, reqJSON, plan)
}

// requestProfiles loads the request profiles of dir when --profiles named
// it (a directory that is missing is then an error, not an empty set) or
// when the request names a profile, which must be there.
func requestProfiles(dir string, given bool, name string) (map[string]*request.Profile, error) {
	if !given && name == "" {
		return nil, nil
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist) && !given:
		return nil, fmt.Errorf("%w: the request names profile %q, and the profiles directory %s does not exist: give --profiles DIR", errUsage, name, dir)
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w: --profiles %s: no such directory", errUsage, dir)
	case err != nil:
		return nil, fmt.Errorf("%w: --profiles: %v", errUsage, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%w: --profiles %s is not a directory", errUsage, dir)
	}
	profiles, err := request.LoadProfiles(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: --profiles %s: %v", errUsage, dir, err)
	}
	if name != "" && profiles[name] == nil {
		known := "it holds no *.yaml profile"
		if len(profiles) > 0 {
			known = "known: " + strings.Join(slices.Sorted(maps.Keys(profiles)), ", ")
		}
		return nil, fmt.Errorf("%w: profile: unknown profile %q in %s (%s)", errUsage, name, dir, known)
	}
	return profiles, nil
}

// Compression levels --level takes, 0 being each one's default.
const (
	maxZstdLevel = 22 // zstd's own scale, mapped onto the encoder's four
	maxGzipLevel = 9  // compress/flate's best compression
)

// checkLevel refuses a compression level that c does not have.
func checkLevel(level int, c request.Compression) error {
	top := 0
	switch c {
	case request.Zstd:
		top = maxZstdLevel
	case request.Gzip:
		top = maxGzipLevel
	}
	switch {
	case level == 0:
		return nil
	case top == 0:
		return fmt.Errorf("%w: --level %d: the output is not compressed", errUsage, level)
	case level < 1 || level > top:
		return fmt.Errorf("%w: --level %d: %s levels are 1 to %d (0: the default)", errUsage, level, c, top)
	}
	return nil
}

// shellSyntaxHint adds to a filter or sort that is not JSON how to write
// what mongoexport also takes in the mongo shell's syntax.
func shellSyntaxHint(err error) error {
	fe, ok := errors.AsType[*request.FieldError](err)
	if !ok || fe.Field != "filter" && fe.Field != "sort" || !strings.HasPrefix(fe.Message, "invalid JSON") {
		return err
	}
	return fmt.Errorf(`%w (the %s is Extended JSON, not the mongo shell's syntax: quote every key and string with ", and write ObjectId("…") as {"$oid": "…"}, a date as {"$date": "2024-01-01T00:00:00Z"})`, err, fe.Field)
}
