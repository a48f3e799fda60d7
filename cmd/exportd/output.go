package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/request"
)

// outputKind is what --out names.
type outputKind int

const (
	// toDir keeps the chunks, manifest.json and the checkpoint in --out.
	toDir outputKind = iota
	// toFile writes the export as one file, through the work directory
	// FILE.exportd beside it.
	toFile
	// toStdout writes the export to standard output; it cannot resume.
	toStdout
)

// workSuffix names a single-file export's work directory: FILE.exportd.
const workSuffix = ".exportd"

// output is where an export goes, as --out says.
type output struct {
	kind outputKind
	// path is --out as given.
	path string
	// work is the directory the export runs in: path for toDir,
	// path+workSuffix for toFile, a temporary one for toStdout (made
	// later).
	work string
	// compression is what the file name says (toFile only): zstd, gzip
	// or none.
	compression request.Compression
	// dataExt is the name's format extension without the dot ("csv",
	// "json", ...), empty when it has none.
	dataExt string
}

// Names a single-file --out may end with.
var (
	compressionExts = map[string]request.Compression{".zst": request.Zstd, ".zstd": request.Zstd, ".gz": request.Gzip}
	dataExts        = map[string]bool{".ndjson": true, ".jsonl": true, ".json": true, ".csv": true}
)

// resolveOutput decides what --out names, without touching the disk
// beyond looking:
//
//   - "-" is standard output;
//   - an existing directory, or a path ending in '/', is a directory;
//   - a name ending in a data extension (.ndjson, .jsonl, .json, .csv), a
//     compression one (.zst, .zstd, .gz) or both (tasks.csv.gz) is one file,
//     compressed as its name says;
//   - any other name is a directory (the chunked layout, as before).
func resolveOutput(out string) (output, error) {
	o := output{path: out, work: out}
	switch {
	case out == "-":
		o.kind, o.work = toStdout, ""
		return o, nil
	case strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)):
		return o, nil
	}
	fi, err := os.Stat(out)
	if err == nil && fi.IsDir() {
		return o, nil
	}
	name := strings.ToLower(filepath.Base(out))
	ext := filepath.Ext(name)
	comp, compressed := compressionExts[ext]
	if compressed {
		name = strings.TrimSuffix(name, ext)
		ext = filepath.Ext(name)
	} else {
		comp = request.None
	}
	if dataExts[ext] {
		o.dataExt = ext[1:]
	}
	if !compressed && o.dataExt == "" {
		if err == nil {
			return o, fmt.Errorf("%w: --out %s is a file, and its name says neither a format nor a compression: name it *.ndjson, *.jsonl, *.json or *.csv (optionally with .zst or .gz) for one file, or give a directory", errUsage, out)
		}
		return o, nil
	}
	o.kind, o.compression, o.work = toFile, comp, out+workSuffix
	if wi, err := os.Stat(o.work); err == nil && !wi.IsDir() {
		return o, fmt.Errorf("%w: --out %s: %s, its work directory, is a file", errUsage, out, o.work)
	}
	return o, nil
}

// checkPlace refuses, before anything is made, a --out that cannot take
// the export: one under a file, or a directory (or a file's work
// directory) that holds something other than an export. An export of
// another request is found when the checkpoint is opened.
func (o output) checkPlace() error {
	if o.kind == toStdout {
		return nil
	}
	entries, err := os.ReadDir(o.work)
	switch {
	case err == nil:
		if len(entries) > 0 && !holdsExport(o.work) {
			if o.kind == toFile {
				return fmt.Errorf("%w: %s, the work directory of --out %s, holds files of something else: move them away", export.ErrForeignDir, o.work, o.path)
			}
			return fmt.Errorf("%w: %s", export.ErrForeignDir, o.work)
		}
		return nil
	case !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: --out %s: %v", errUsage, o.path, err)
	}
	// o.work is made, with its missing parents, once the server has
	// answered: the nearest one that exists must be a directory.
	for p := filepath.Dir(o.work); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return nil
		case err == nil:
			return fmt.Errorf("%w: --out %s: %s is a file, not a directory", errUsage, o.path, p)
		case !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return fmt.Errorf("%w: --out %s: %v", errUsage, o.path, err)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// compressionFor settles the compression of a file or stdout: what the
// name says, unless the request says otherwise, which is an error for a
// file (tasks.ndjson --compression zstd). stdout defaults to none.
func (o output) compressionFor(given request.Compression) (request.Compression, error) {
	switch o.kind {
	case toStdout:
		if given == "" {
			return request.None, nil
		}
	case toFile:
		if given == "" {
			return o.compression, nil
		}
		if given != o.compression && given.Valid() {
			return "", fmt.Errorf("%w: --out %s names %s output but the compression is %s: name the file %s, or leave --compression out", errUsage, o.path, describeCompression(o.compression), given, renamed(o.path, given))
		}
	}
	return given, nil
}

func describeCompression(c request.Compression) string {
	if c == request.None {
		return "uncompressed"
	}
	return string(c)
}

// renamed is path with its compression extension made c's.
func renamed(path string, c request.Compression) string {
	ext := filepath.Ext(path)
	if _, ok := compressionExts[strings.ToLower(ext)]; ok {
		path = strings.TrimSuffix(path, ext)
	}
	switch c {
	case request.Zstd:
		return path + ".zst"
	case request.Gzip:
		return path + ".gz"
	}
	return path
}

// checkFormat refuses a file name whose data extension contradicts the
// plan's format: tasks.csv holding ndjson. .json holds ndjson (as
// mongoexport writes it) or json.
func (o output) checkFormat(f request.Format) error {
	ok := true
	switch o.dataExt {
	case "csv":
		ok = f == request.CSV
	case "ndjson", "jsonl":
		ok = f == request.NDJSON
	case "json":
		ok = f == request.NDJSON || f == request.JSON
	}
	if ok {
		return nil
	}
	return fmt.Errorf("%w: --out %s names a %s file but the format is %s: give --type %s (or --format), or name the file *.%s", errUsage, o.path, o.dataExt, f, typeFor(o.dataExt), f)
}

func typeFor(ext string) string {
	if ext == "csv" {
		return "csv"
	}
	return "json"
}
