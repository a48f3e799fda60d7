package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/procs"
)

// TestHelpDefaults: -h of each command says each flag's default once, and
// for serve it is the daemon's built-in default.
func TestHelpDefaults(t *testing.T) {
	def := daemon.Default()
	for _, tc := range []struct {
		cmd  string
		want []string // flag and its help line, as printed
	}{
		{"serve", []string{
			"-http-addr string\n    \tHTTP address (default \"" + def.HTTPAddr + "\")",
			"-nats-listen string\n    \taddress of the embedded NATS server (default \"" + def.NATS.Listen + "\")",
			"-queue-size int\n    \texports waiting at most (default 100)",
			"-max-concurrent int\n    \texports running at once (default 2)",
			"-log-level string\n    \tdebug, info, warn or error (default \"info\")",
		}},
		{"export", nil},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			out, err := procs.CombinedOutput(exec.Command(exportdBinary(t), tc.cmd, "--help"))
			if err != nil {
				t.Fatalf("%s --help: %v\n%s", tc.cmd, err, out)
			}
			twice := regexp.MustCompile(`(?i)default.*\(default `)
			for _, line := range strings.Split(string(out), "\n") {
				if twice.MatchString(line) {
					t.Errorf("two defaults: %s", strings.TrimSpace(line))
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("help lacks\n%s\n%s", w, out)
				}
			}
		})
	}
}

// TestServeFlagPrecedence: a flag given overrides the environment, which
// overrides the --config file, which overrides the defaults; a flag not
// given changes nothing, even where its default differs from the file. A
// relative path from the file is the file's; from a flag, the working
// directory's.
func TestServeFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "exportd.yaml")
	yaml := "dataDir: data\nmongoUri: mongodb://file:27017/\nqueueSize: 7\nmaxConcurrent: 3\nhttpAddr: 127.0.0.1:9090\nlogLevel: debug\ncluster:\n  enabled: false\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EXPORTD_MONGO_URI": "mongodb://env:27017/"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name  string
		args  []string
		check func(c daemon.Config) (got, want any)
	}{
		{"file over default", nil, func(c daemon.Config) (any, any) { return c.QueueSize, 7 }},
		{"file path is the file's", nil, func(c daemon.Config) (any, any) { return c.DataDir, filepath.Join(dir, "data") }},
		{"env over file", nil, func(c daemon.Config) (any, any) { return c.MongoURI, "mongodb://env:27017/" }},
		{"flag over env", []string{"--mongo-uri", "mongodb://flag:27017/"}, func(c daemon.Config) (any, any) { return c.MongoURI, "mongodb://flag:27017/" }},
		{"flag over file", []string{"--queue-size", "0"}, func(c daemon.Config) (any, any) { return c.QueueSize, 0 }},
		{"flag path is the working directory's", []string{"--data", "here"}, func(c daemon.Config) (any, any) { return c.DataDir, "here" }},
		{"flag not given", []string{"--queue-size", "9"}, func(c daemon.Config) (any, any) {
			return [3]any{c.MaxConcurrent, c.HTTPAddr, c.LogLevel}, [3]any{3, "127.0.0.1:9090", "debug"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseServeFlags(append([]string{"--config", file}, tc.args...), getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tc.check(cfg); got != want {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}
