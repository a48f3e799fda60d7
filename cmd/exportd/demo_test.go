package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/procs"
)

// TestDemo runs make demo's script as CI does (DEMO_ONCE=1) on free
// ports: devmongo, the foreground export, exportd serve and an export
// through it, downloaded and checked; then everything stops cleanly. It
// runs again with only the commands a fresh machine has besides Go's
// builds: no zstd, no curl.
func TestDemo(t *testing.T) {
	bin := t.TempDir()
	out, err := procs.CombinedOutput(exec.Command("go", "build", "-o", bin+"/", "../../cmd/exportd", "../../cmd/exportctl", "../../cmd/devmongo"))
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name    string
		without []string // commands hidden from the script
	}{
		{"as installed", nil},
		{"without zstd or curl", []string{"zstd", "curl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			httpAddr, natsAddr := freeAddr(t), freeAddr(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "../../scripts/demo.sh", bin, dir, freeAddr(t), "2000", httpAddr, natsAddr)
			cmd.Env = append(os.Environ(), "DEMO_ONCE=1")
			if tc.without != nil {
				cmd.Env = append(cmd.Env, "PATH="+pathWithout(t, tc.without...))
			}
			out, err := procs.CombinedOutput(cmd)
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out)
			}
			text := string(out)
			id := regexp.MustCompile(`export ([a-z2-7]{26}) \(`).FindStringSubmatch(text)
			if id == nil {
				t.Fatalf("the demo names no export:\n%s", text)
			}
			for _, want := range []string{
				"sorts the whole collection in memory before it sends the first record",
				"request profiles loaded: profilesDir=",
				"watch " + id[1],
				"get --out ./tasks-export " + id[1],
				"curl -s http://" + httpAddr + "/exports/" + id[1] + " ",
				"curl -s -r 0-99",
				"/exports/" + id[1] + "/data",
				"nats --server nats://" + natsAddr + " req exports.list '{}'",
				"nats --server nats://" + natsAddr + " sub 'exports.progress.>'",
				"The web console: http://" + httpAddr + "/ (API token: exportd-demo-api-token)",
				"the profile's header and 2000 tasks",
				"== exportd serve stopped",
				"== devmongo stopped",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("the demo does not say %q:\n%s", want, text)
				}
			}
			if (tc.without == nil) != strings.Contains(text, "== the first record") {
				t.Errorf("the first record shown with zstd, and only then:\n%s", text)
			}
			log, err := os.ReadFile(filepath.Join(dir, "exportd.log"))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(log), "\n") {
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
					t.Errorf("the daemon logged: %s", line)
				}
			}
			if !strings.Contains(string(log), `msg="shutting down"`) {
				t.Errorf("the daemon did not shut down cleanly:\n%s", log)
			}
		})
	}
}

// pathWithout is a PATH with the commands of the current one but the
// names given: a directory of links to the rest.
func pathWithout(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range filepath.SplitList(os.Getenv("PATH")) {
		entries, _ := os.ReadDir(p) // a missing PATH entry hides nothing
		for _, e := range entries {
			name := e.Name()
			if slices.Contains(names, name) {
				continue
			}
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				continue // the first in PATH wins, as for the shell
			}
			if err := os.Symlink(filepath.Join(p, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range names {
		if _, err := exec.LookPath(filepath.Join(dir, n)); err == nil {
			t.Fatalf("%s is still on the PATH", n)
		}
	}
	return dir
}
