package request

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// How a csv cell holds an array (Request.CSVArrays, a profile's csvArrays).
const (
	// CSVArraysJSON writes an array as its relaxed Extended JSON, the
	// default: lossless, and what every plan stored before the option
	// existed means.
	CSVArraysJSON = "json"
	// CSVArraysJoin writes an array as its items' text joined by a
	// separator, as the old service wrote tags: ["a","b"] is "a; b".
	CSVArraysJoin = "join"
	// DefaultCSVArraySeparator joins an array when the request and its
	// profile name no separator: readable, and a comma-free cell.
	DefaultCSVArraySeparator = "; "
	// MaxCSVArraySeparator is the longest separator, in bytes.
	MaxCSVArraySeparator = 16
)

// compileCSV sets the plan's csv options from r. An option that would
// change a format other than csv is refused rather than ignored; a default
// said out loud ("json", csvBom false, csvHeader true) is accepted with any
// format. Headers with no header line to name are refused too.
func compileCSV(p *Plan, r *Request) error {
	switch r.CSVArrays {
	case "", CSVArraysJSON:
		if r.CSVArraySeparator != "" {
			return fieldErr("csvArraySeparator", "needs csvArrays %q (csvArrays is %s)", CSVArraysJoin, quote(orDefault(r.CSVArrays, CSVArraysJSON)))
		}
	case CSVArraysJoin:
		sep := orDefault(r.CSVArraySeparator, DefaultCSVArraySeparator)
		if msg := checkArraySeparator(sep); msg != "" {
			return fieldErr("csvArraySeparator", "%s", msg)
		}
		p.CSVArraySeparator = sep
	default:
		return fieldErr("csvArrays", "unknown array mode %s (one of %q, %q)", quote(r.CSVArrays), CSVArraysJSON, CSVArraysJoin)
	}
	p.CSVBOM = r.CSVBOM != nil && *r.CSVBOM
	p.CSVNoHeader = r.CSVHeader != nil && !*r.CSVHeader
	if p.Format != CSV {
		switch {
		case p.CSVArraySeparator != "":
			return fieldErr("csvArrays", "%q applies only to format \"csv\", not %s", CSVArraysJoin, quote(string(p.Format)))
		case p.CSVBOM:
			return fieldErr("csvBom", "applies only to format \"csv\", not %s (JSON text must not start with a byte order mark)", quote(string(p.Format)))
		case p.CSVNoHeader:
			return fieldErr("csvHeader", "false applies only to format \"csv\", not %s (it has no header line to leave out)", quote(string(p.Format)))
		}
	}
	if p.CSVNoHeader && len(r.Headers) > 0 {
		return fieldErr("headers", "name the header line's columns, and csvHeader is false: leave headers out")
	}
	return nil
}

// checkArraySeparator says what is wrong with a csv array separator, if
// anything. Any text is quoted as RFC 4180 needs; a separator is kept to a
// few printable characters so that a cell stays one line of text.
func checkArraySeparator(sep string) string {
	switch {
	case sep == "":
		return "must not be empty"
	case len(sep) > MaxCSVArraySeparator:
		return fmt.Sprintf("is %d bytes, at most %d", len(sep), MaxCSVArraySeparator)
	case !utf8.ValidString(sep):
		return "must be UTF-8 text"
	case strings.ContainsFunc(sep, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return fmt.Sprintf("%s holds a control character (a line break or tab would split the cell in a spreadsheet)", quote(sep))
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
