package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/procs"
)

type crashCase struct {
	name string
	args []string
	// kills is how many random SIGKILLs the case delivers at least in the
	// long run.
	kills int
}

// The long run's random kills add up to 20 over the cases. Each restart
// pays for devmongo to read and sort the whole collection again (about
// 10 s for 51,000 tasks here), which is what bounds their number.
var crashCases = []crashCase{
	{"ndjson-zstd", []string{"--format", "ndjson", "--compression", "zstd"}, 8},
	{"json-gzip", []string{"--format", "json", "--compression", "gzip"}, 4},
	{"csv-none", []string{"--format", "csv", "--compression", "none", "--fields", "_id,title,description,tags,completedAt"}, 4},
	{"desc-mixed-types", []string{"--sort", `{"completedAt": -1}`, "--compression", "zstd"}, 4},
}

var failpoints = []string{"after-write", "after-sync", "after-rename", "after-commit"}

const (
	// longEnv, when set (make test-long sets it), runs TestCrashResume at
	// full strength: every step of the commit protocol in every case and
	// crashCases' random kills, on the shared collection of
	// crashTasks+mixedTasks records. About ten minutes on two cores.
	longEnv = "EXPORTD_TEST_LONG"

	// seedEnv fixes TestCrashResume's random choices, to rerun a failure
	// with the seed it logged. The moments of the random kills are chosen
	// as fractions of an uninterrupted run, so they land about where they
	// did, not to the instruction.
	seedEnv = "EXPORTD_CRASH_SEED"
)

// The default run's size: each step of the commit protocol once, in a case
// chosen at random, and shortRandomKills random kills spread at random over
// the cases, on a collection of shortCrashTasks+mixedTasks records (five
// chunks of 2,500). About a minute on two cores.
const (
	shortCrashTasks  = 10_000
	shortRandomKills = 3
)

// crashPlan is what TestCrashResume does, drawn from its seed.
type crashPlan struct {
	coll    string
	records int64
	// steps[i] are the failpoints case i is killed at, in turn; kills[i]
	// is how many random kills it delivers at least.
	steps [][]string
	kills []int
}

func newCrashPlan(t *testing.T, seed uint64) crashPlan {
	t.Helper()
	p := crashPlan{steps: make([][]string, len(crashCases)), kills: make([]int, len(crashCases))}
	if os.Getenv(longEnv) != "" {
		p.coll, p.records = "tasks", crashTasks+mixedTasks
		for i, tc := range crashCases {
			p.steps[i], p.kills[i] = failpoints, tc.kills
		}
		return p
	}
	p.coll, p.records = crashCollection(t), shortCrashTasks+mixedTasks
	r := rand.New(rand.NewPCG(seed, 0))
	steps := slices.Clone(failpoints)
	r.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
	// Every step once, and every case at least one step, so that the
	// case's last run always resumes.
	cases := r.Perm(len(crashCases))
	for i := range max(len(crashCases), len(steps)) {
		c := cases[i%len(cases)]
		p.steps[c] = append(p.steps[c], steps[i%len(steps)])
	}
	for range shortRandomKills {
		p.kills[r.IntN(len(crashCases))]++
	}
	return p
}

// crashSeed is seedEnv's seed, or a new one.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	s := os.Getenv(seedEnv)
	if s == "" {
		return rand.Uint64()
	}
	seed, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", seedEnv, s, err)
	}
	return seed
}

var (
	crashOnce sync.Once
	crashErr  error
)

// crashCollection seeds collection "crash" of the shared database with
// shortCrashTasks tasks and the mixedTasks documents, once, and returns its
// name.
func crashCollection(t *testing.T) string {
	t.Helper()
	uri := database(t)
	crashOnce.Do(func() {
		ctx := context.Background()
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			crashErr = err
			return
		}
		defer client.Disconnect(ctx)
		coll := client.Database("app").Collection("crash")
		if _, err := devmongo.Seed(ctx, coll, 0, shortCrashTasks, devmongo.SeedOptions{}); err != nil {
			crashErr = err
			return
		}
		_, crashErr = coll.InsertMany(ctx, mixedDocs())
	})
	if crashErr != nil {
		t.Fatal(crashErr)
	}
	return "crash"
}

// exportCmd is exportd export of the shared collection of
// crashTasks+mixedTasks records.
func exportCmd(t *testing.T, out string, args []string, env ...string) *exec.Cmd {
	t.Helper()
	return collectionExportCmd(t, "tasks", out, args, env...)
}

func collectionExportCmd(t *testing.T, coll, out string, args []string, env ...string) *exec.Cmd {
	t.Helper()
	all := append([]string{"export", "--uri", database(t), "--db", "app", "--collection", coll,
		"--chunk-records", "2500", "--quiet", "--out", out}, args...)
	cmd := exec.Command(exportdBinary(t), all...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// TestCrashResume kills exportd with SIGKILL at steps of the chunk commit
// protocol and at random moments, restarts it each time, and checks that
// the export ends exactly as an uninterrupted one. By default it takes
// each step once and a few random kills, on a small collection; with
// EXPORTD_TEST_LONG set, every step in every case and 20 random kills, on
// 51,000 records. Its choices come from a seed it logs (see seedEnv).
func TestCrashResume(t *testing.T) {
	seed := crashSeed(t)
	t.Logf("seed %d: rerun with %s=%d", seed, seedEnv, seed)
	plan := newCrashPlan(t, seed)
	total, wantKills := 0, 0
	for _, k := range plan.kills {
		wantKills += k
	}
	defer func() {
		if !t.Failed() && total < wantKills {
			t.Errorf("%d random kills landed, want at least %d", total, wantKills)
		}
	}()
	for i, tc := range crashCases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, uint64(i)+1))
			export := func(out string, env ...string) *exec.Cmd {
				return collectionExportCmd(t, plan.coll, out, tc.args, env...)
			}
			ref := filepath.Join(t.TempDir(), "ref")
			start := time.Now()
			if out, err := procs.CombinedOutput(export(ref)); err != nil {
				t.Fatalf("uninterrupted run: %v\n%s", err, out)
			}
			full := time.Since(start)
			want := readManifest(t, ref)
			if want.Records != plan.records {
				t.Fatalf("uninterrupted run exported %d records, want %d", want.Records, plan.records)
			}

			dir := filepath.Join(t.TempDir(), "crashed")
			// Steps of the commit protocol, each at a chunk chosen at random.
			var steps []string
			for _, fp := range plan.steps[i] {
				step := fmt.Sprintf("%s:%d", fp, r.IntN(3))
				steps = append(steps, step)
				out, err := procs.CombinedOutput(export(dir, failpointEnv+"="+step))
				if !procs.Killed(err) {
					t.Fatalf("failpoint %s did not kill exportd: %v\n%s", step, err, out)
				}
			}
			// Random moments, until enough kills landed; an export that
			// completes meanwhile is checked and a new one begins.
			kills := 0
			for kills < plan.kills[i] {
				cmd := export(dir)
				if err := procs.Start(cmd); err != nil {
					t.Fatal(err)
				}
				wait := time.Duration(r.Float64() * float64(full))
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
					if err := <-done; procs.Killed(err) {
						kills++
					} else if err != nil {
						t.Fatalf("run: %v", err)
					}
				}
			}
			// A kill right after an export completed may land in the next
			// one before it wrote its manifest: then there is nothing to
			// resume.
			_, err := os.Stat(filepath.Join(dir, "manifest.json"))
			resumable := err == nil
			out, err := procs.CombinedOutput(export(dir))
			if err != nil {
				t.Fatalf("final run: %v\n%s", err, out)
			}
			if resumable && !strings.Contains(string(out), "resuming export") {
				t.Fatalf("the final run did not say it resumed:\n%s", out)
			}
			compareExports(t, want, ref, dir)
			total += kills
			t.Logf("failpoint kills at %v, %d random kills", steps, kills)
		})
	}
}

func readManifest(t *testing.T, dir string) *api.Manifest {
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
func compareExports(t *testing.T, want *api.Manifest, ref, dir string) {
	t.Helper()
	got := readManifest(t, dir)
	if got.State != api.StateCompleted || got.Records != want.Records || len(got.Chunks) != len(want.Chunks) {
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
	if err := procs.Start(first); err != nil {
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
	out, err := procs.CombinedOutput(exportCmd(t, dir, args))
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
	if m.State != api.StateCompleted || m.Records != crashTasks+mixedTasks {
		t.Fatalf("first export: %s with %d records", m.State, m.Records)
	}
}
