package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// mongoexport's flags: the ones that mean what one of ours means are
// aliases of it (see exportAliases); every other one is refused with what
// to use instead, so that a mongoexport command line fails with a way
// forward rather than "flag provided but not defined".

// exportAliases are the groups of flag names that set the same value: our
// name first, then mongoexport's. Giving two names of one group is an
// error, even with the same value.
var exportAliases = [][]string{
	{"db", "d"},
	{"collection", "c"},
	{"filter", "query", "q", "queryFile"},
	{"fields", "f", "fieldFile"},
	{"out", "o"},
	{"json-format", "jsonFormat"},
	{"json-array", "jsonArray"},
	{"strict", "assertExists"},
	{"format", "type"},
}

// uriHint says how a connection setting goes into the connection string.
func uriHint(setting string) string {
	return "put " + setting + " in --uri"
}

// refusedFlags are mongoexport's flags that exportd export does not have,
// each with its equivalent, or why there is none.
var refusedFlags = map[string]string{
	"host":                          uriHint("the host") + " (mongodb://HOST:PORT/, or mongodb://HOST1,HOST2/?replicaSet=NAME)",
	"port":                          uriHint("the port") + " (mongodb://HOST:PORT/)",
	"username":                      uriHint("the user") + " (mongodb://USER:PASSWORD@HOST/)",
	"u":                             uriHint("the user") + " (mongodb://USER:PASSWORD@HOST/)",
	"password":                      uriHint("the password") + " (mongodb://USER:PASSWORD@HOST/, percent-encoded)",
	"p":                             uriHint("the password") + " (mongodb://USER:PASSWORD@HOST/, percent-encoded)",
	"authenticationDatabase":        uriHint("the authentication database") + " (mongodb://USER:PASSWORD@HOST/?authSource=DB)",
	"authenticationMechanism":       uriHint("the mechanism") + " (?authMechanism=SCRAM-SHA-256)",
	"awsSessionToken":               uriHint("the token") + " (?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:TOKEN)",
	"gssapiServiceName":             "exportd is built without Kerberos (GSSAPI) support",
	"gssapiHostName":                "exportd is built without Kerberos (GSSAPI) support",
	"ssl":                           uriHint("TLS") + " (?tls=true)",
	"tls":                           uriHint("TLS") + " (?tls=true)",
	"sslCAFile":                     uriHint("the CA file") + " (?tls=true&tlsCAFile=FILE)",
	"tlsCAFile":                     uriHint("the CA file") + " (?tls=true&tlsCAFile=FILE)",
	"sslPEMKeyFile":                 uriHint("the client certificate") + " (?tls=true&tlsCertificateKeyFile=FILE)",
	"tlsCertificateKeyFile":         uriHint("the client certificate") + " (?tls=true&tlsCertificateKeyFile=FILE)",
	"sslPEMKeyPassword":             uriHint("the certificate's password") + " (?tlsCertificateKeyFilePassword=PASSWORD)",
	"tlsCertificateKeyFilePassword": uriHint("the certificate's password") + " (?tlsCertificateKeyFilePassword=PASSWORD)",
	"sslAllowInvalidCertificates":   uriHint("it") + " (?tlsAllowInvalidCertificates=true)",
	"sslAllowInvalidHostnames":      uriHint("it") + " (?tlsAllowInvalidHostnames=true)",
	"tlsInsecure":                   uriHint("it") + " (?tlsInsecure=true)",
	"sslCRLFile":                    "exportd has no certificate revocation list option",
	"sslFIPSMode":                   "exportd has no FIPS mode",
	"config":                        "give the request as --request FILE (JSON, see --help) and the credentials in --uri",
	"verbose":                       "exportd logs warnings and errors only, always on stderr; the progress line is on by default (--quiet turns it off)",
	"v":                             "exportd logs warnings and errors only, always on stderr; the progress line is on by default (--quiet turns it off)",
	"slaveOk":                       "use --readPreference secondaryPreferred (or ?readPreference=secondaryPreferred in --uri)",
	"k":                             "use --readPreference secondaryPreferred (or ?readPreference=secondaryPreferred in --uri)",
	"forceTableScan":                "an export always reads in its sort order (--sort, then _id) so that it can resume; there is no table-scan mode",
	"snapshot":                      "an export always reads in its sort order (--sort, then _id) so that it can resume; there is no snapshot mode",
	"pretty":                        "exportd writes compact Extended JSON (byte for byte mongoexport's); indent it afterwards, e.g. with jq",
	"csv":                           "use --type csv (or --format csv)",
	"dialTimeout":                   "use --server-selection-timeout (or ?connectTimeoutMS=N in --uri)",
	"compressors":                   uriHint("the wire compressors") + " (?compressors=zstd,snappy)",
	"version":                       "exportd has no version flag: go version -m $(command -v exportd) shows the module version and VCS revision it was built from",
}

// checkRefused finds the first of mongoexport's refused flags in args, as
// fs would parse them: a flag's value is not mistaken for a flag, and
// parsing stops at "--" or at the first argument that is not a flag.
// mongoexport's -h HOST is told apart from -h (help) by its value.
func checkRefused(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return nil
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" && (hasValue || i+1 < len(args) && !strings.HasPrefix(args[i+1], "-")) {
			name = "host"
		}
		if msg, ok := refusedFlags[name]; ok {
			return fmt.Errorf("%w: %s is not a flag of exportd export: %s", errUsage, dashed(name), msg)
		}
		f := fs.Lookup(name)
		if f == nil || hasValue {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		i++ // the flag's value
	}
	return nil
}

// dashed is a flag's name as written: -d, --db.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// exportOpposites are pairs of flag names that set one value, the second
// name its opposite (mongoexport's --noHeaderLine is --csv-header=false).
// Giving both is an error, as for aliases.
var exportOpposites = [][2]string{
	{"csv-header", "noHeaderLine"},
}

// checkAliases refuses two names of one alias group, or both of a pair of
// opposites, given together.
func checkAliases(set map[string]bool) error {
	for _, group := range exportAliases {
		var given []string
		for _, name := range group {
			if set[name] {
				given = append(given, dashed(name))
			}
		}
		if len(given) > 1 {
			return fmt.Errorf("%w: %s say the same thing: give one of them", errUsage, strings.Join(given, " and "))
		}
	}
	for _, pair := range exportOpposites {
		if set[pair[0]] && set[pair[1]] {
			return fmt.Errorf("%w: %s and %s set the same option (%s is %s=false): give one of them", errUsage, dashed(pair[0]), dashed(pair[1]), dashed(pair[1]), dashed(pair[0]))
		}
	}
	return nil
}

// jsonArrayFormat is the format of an export with --json-array: json when
// neither --format nor --type names one, and for mongoexport's --type json
// (whose --jsonArray is the same documents as one array); a format named
// otherwise stays, for the request to refuse.
func jsonArrayFormat(format, typ string) string {
	if format == "" || strings.EqualFold(typ, "json") {
		return "json"
	}
	return format
}

// mongoexportType maps mongoexport's --type onto our format: its json is
// one document per line, which is our ndjson.
func mongoexportType(t string) (string, error) {
	switch strings.ToLower(t) {
	case "json":
		return "ndjson", nil
	case "csv":
		return "csv", nil
	}
	return "", fmt.Errorf("%w: --type %q: mongoexport's types are json (one document per line: exportd's --format ndjson; with --jsonArray, one array) and csv; --format also has json (an envelope with a documents array)", errUsage, t)
}

// readListFile reads a --fieldFile: one field path per line, blank lines
// left out.
func readListFile(flagName, path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --%s: %v", errUsage, flagName, err)
	}
	var fields []string
	for line := range strings.Lines(string(data)) {
		if f := strings.TrimSpace(line); f != "" {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: --%s %s names no field", errUsage, flagName, path)
	}
	return fields, nil
}

// checkExclusions refuses mongoexport-style "-field" exclusions: the plan
// lists the fields to keep (and csv makes a column of each), so a field
// left out is one not listed.
func checkExclusions(flagName string, fields []string) error {
	for _, f := range fields {
		if strings.HasPrefix(f, "-") {
			return fmt.Errorf("%w: --%s %q: a leading '-' would leave the field out, which exportd does not do: list the fields to keep instead (all fields are exported when --fields is not given)", errUsage, flagName, f)
		}
	}
	return nil
}
