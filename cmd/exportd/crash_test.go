package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exportd/exportd/chunker"
)

type crashCase struct {
	name string
	args []string
	// kills is how many random SIGKILLs the case delivers at least.
	kills int
}

// The random kills add up to 20 over the cases. Each restart pays for
// devmongo to read and sort the whole collection again (about 10 s for
// 51,000 tasks here), which is what bounds their number.
var crashCases = []crashCase{
	{"ndjson-zstd", []string{"--format", "ndjson", "--compression", "zstd"}, 8},
	{"json-gzip", []string{"--format", "json", "--compression", "gzip"}, 4},
	{"csv-none", []string{"--format", "csv", "--compression", "none", "--fields", "_id,title,description,tags,completedAt"}, 4},
	{"desc-mixed-types", []string{"--sort", `{"completedAt": -1}`, "--compression", "zstd"}, 4},
}

const minRandomKills = 20

var failpoints = []string{"after-write", "after-sync", "after-rename", "after-commit"}

func exportCmd(t *testing.T, out string, args []string, env ...string) *exec.Cmd {
	t.Helper()
	all := append([]string{"export", "--uri", database(t), "--db", "app", "--collection", "tasks",
		"--chunk-records", "2500", "--quiet", "--out", out}, args...)
	cmd := exec.Command(exportdBinary(t), all...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// TestCrashResume kills exportd with SIGKILL at every step of the chunk
// commit protocol and at random moments, restarts it each time, and checks
// that the export ends exactly as an uninterrupted one.
func TestCrashResume(t *testing.T) {
	total := 0
	defer func() {
		if !t.Failed() && total < minRandomKills {
			t.Errorf("%d random kills landed, want at least %d", total, minRandomKills)
		}
	}()
	for _, tc := range crashCases {
		t.Run(tc.name, func(t *testing.T) {
			ref := filepath.Join(t.TempDir(), "ref")
			start := time.Now()
			if out, err := exportCmd(t, ref, tc.args).CombinedOutput(); err != nil {
				t.Fatalf("uninterrupted run: %v\n%s", err, out)
			}
			full := time.Since(start)
			want := readManifest(t, ref)
			if want.Records != crashTasks+mixedTasks {
				t.Fatalf("uninterrupted run exported %d records, want %d", want.Records, crashTasks+mixedTasks)
			}

			dir := filepath.Join(t.TempDir(), "crashed")
			// Each step of the commit protocol, at a chunk chosen at random.
			for _, fp := range failpoints {
				n := rand.IntN(3)
				out, err := exportCmd(t, dir, tc.args, fmt.Sprintf("EXPORTD_FAILPOINT=%s:%d", fp, n)).CombinedOutput()
				if !killed(err) {
					t.Fatalf("failpoint %s:%d did not kill exportd: %v\n%s", fp, n, err, out)
				}
			}
			// Random moments, until enough kills landed; an export that
			// completes meanwhile is checked and a new one begins.
			kills := 0
			for kills < tc.kills {
				cmd := exportCmd(t, dir, tc.args)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				wait := time.Duration(rand.Int64N(int64(full)))
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("run before its kill: %v", err)
					}
					compareExports(t, want, ref, dir)
					dir = filepath.Join(t.TempDir(), fmt.Sprintf("crashed-%d", kills))
				case <-time.After(wait):
					cmd.Process.Kill()
					if err := <-done; killed(err) {
						kills++
					} else if err != nil {
						t.Fatalf("run: %v", err)
					}
				}
			}
			out, err := exportCmd(t, dir, tc.args).CombinedOutput()
			if err != nil {
				t.Fatalf("final run: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "resuming export") {
				t.Fatalf("the final run did not say it resumed:\n%s", out)
			}
			compareExports(t, want, ref, dir)
			total += kills
			t.Logf("%d failpoint kills, %d random kills", len(failpoints), kills)
		})
	}
}

func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func readManifest(t *testing.T, dir string) *chunker.Manifest {
	t.Helper()
	m, err := chunker.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var generatedAt = regexp.MustCompile(`"generatedAt":"[^"]*"`)

// compareExports checks that dir holds the same export as ref: every chunk
// byte for byte, except the json envelope's generatedAt in the first chunk,
// which is each export's own creation time.
func compareExports(t *testing.T, want *chunker.Manifest, ref, dir string) {
	t.Helper()
	got := readManifest(t, dir)
	if got.State != chunker.StateCompleted || got.Records != want.Records || len(got.Chunks) != len(want.Chunks) {
		t.Fatalf("export: state %s, %d records in %d chunks; want completed, %d in %d", got.State, got.Records, len(got.Chunks), want.Records, len(want.Chunks))
	}
	for i, c := range got.Chunks {
		w := want.Chunks[i]
		if c.Name != w.Name || c.Records != w.Records || c.RawBytes != w.RawBytes ||
			!bytes.Equal(compact(c.FirstKey), compact(w.FirstKey)) || !bytes.Equal(compact(c.LastKey), compact(w.LastKey)) {
			t.Fatalf("chunk %d: %+v\nwant %+v", i, c, w)
		}
		data, err := os.ReadFile(filepath.Join(dir, c.Name))
		if err != nil {
			t.Fatal(err)
		}
		if c.SHA256 == w.SHA256 {
			continue
		}
		if i != 0 || !strings.Contains(c.Name, ".json") {
			t.Fatalf("chunk %d differs: sha256 %s, want %s", i, c.SHA256, w.SHA256)
		}
		refData, _ := os.ReadFile(filepath.Join(ref, w.Name))
		a, b := plain(t, c.Name, data), plain(t, w.Name, refData)
		stamp := fmt.Sprintf(`"generatedAt":"%s"`, got.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		if !bytes.Contains(a, []byte(stamp)) {
			t.Fatalf("chunk 0 does not carry the export's creation time %s", stamp)
		}
		if !bytes.Equal(generatedAt.ReplaceAll(a, nil), generatedAt.ReplaceAll(b, nil)) {
			t.Fatal("chunk 0 differs beyond generatedAt")
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if chunker.IsTemp(e.Name()) {
			t.Fatalf("temporary file %s left in a completed export", e.Name())
		}
	}
}

func compact(b []byte) []byte {
	return bytes.Join(bytes.Fields(b), nil)
}

func plain(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	r, err := chunker.Decompress(name, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A second exportd on the same --out while the first runs is refused at
// once, and the first completes unharmed.
func TestSecondProcessRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	args := []string{"--format", "csv", "--fields", "_id,title", "--compression", "gzip"}
	first := exportCmd(t, dir, args)
	var firstOut bytes.Buffer
	first.Stderr = &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first export never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	out, err := exportCmd(t, dir, args).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "in use by another process") {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("second process took %s to give up", d)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first process: %v\n%s", err, firstOut.String())
	}
	m := readManifest(t, dir)
	if m.State != chunker.StateCompleted || m.Records != crashTasks+mixedTasks {
		t.Fatalf("first export: %s with %d records", m.State, m.Records)
	}
}
