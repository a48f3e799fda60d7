package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/internal/procs"
)

var update = flag.Bool("update", false, "write the console's screenshots to web/screenshots (for the README)")

func TestMain(m *testing.M) {
	code := m.Run()
	devmongotest.RemoveBinary()
	os.Exit(code)
}

// Where the browser test's tools are, and how to install them; a test
// that lacks one fails and says how to get it.
const (
	chromiumPath   = "/usr/bin/chromium"
	installBrowser = "apt-get install -y chromium"
	installModules = "npm ci --prefix web/e2e"
	// consoleTasks makes the first export (completed tasks, about 35%)
	// take several chunks and progress events, and the second (all of
	// them, 10 per chunk) slow enough to cancel while it runs.
	consoleTasks = 20_000
	e2eToken     = "console-e2e-api-token"
)

// e2eTools fails the test unless node, chromium and playwright-core are
// installed.
func e2eTools(t *testing.T) (node string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing: apt-get install -y nodejs npm, then %s", installModules)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing (%v): %s", chromiumPath, err, installBrowser)
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is not installed in web/e2e (%v): %s", err, installModules)
	}
	return node
}

// e2eResult is what web/e2e/console.mjs reports.
type e2eResult struct {
	PageErrors   []string `json:"pageErrors"`
	CSP          string   `json:"csp"`
	TokenFocused bool     `json:"tokenFocused"`
	FieldError   string   `json:"fieldError"`
	FieldInvalid string   `json:"fieldInvalid"`
	FieldFocused bool     `json:"fieldFocused"`
	First        string   `json:"first"`
	Seen         []int64  `json:"seen"`
	FirstBar     struct {
		Value, Max float64
	} `json:"firstBar"`
	ChunkName     string   `json:"chunkName"`
	ChunkFile     string   `json:"chunkFile"`
	Suggested     string   `json:"suggested"`
	Second        string   `json:"second"`
	SecondSeen    []int64  `json:"secondSeen"`
	PhoneOverflow int      `json:"phoneOverflow"`
	ResumeShown   bool     `json:"resumeShown"`
	SocketEvents  []string `json:"socketEvents"`
}

// TestConsole opens the console in headless Chromium against a real
// daemon: signs in with the keyboard, sees a refused request's error next
// to its field, starts an export through the form and watches its bar
// move to completed over the event stream, downloads a chunk by its signed
// link and checks it against the manifest's SHA-256, and cancels a second,
// slow export while it runs. It leaves screenshots at desktop and phone
// width (in web/screenshots with -update).
func TestConsole(t *testing.T) {
	node := e2eTools(t)
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", consoleTasks)
	addrs := startDaemon(t, db.URI)

	shots := t.TempDir()
	if *update {
		abs, err := filepath.Abs("screenshots")
		if err != nil {
			t.Fatal(err)
		}
		shots = abs
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "console.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "BASE_URL="+addrs.Public, "API_TOKEN="+e2eToken,
		"OUT_DIR="+out, "SHOTS_DIR="+shots, "CHROMIUM="+chromiumPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := procs.Run(cmd)
	t.Logf("browser test took %s; its log:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())
	if err != nil {
		t.Fatalf("web/e2e/console.mjs: %v", err)
	}
	var res e2eResult
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("the script's result %q: %v", stdout.String(), err)
	}

	if len(res.PageErrors) > 0 {
		t.Errorf("errors in the page: %q", res.PageErrors)
	}
	if !strings.Contains(res.CSP, "frame-ancestors 'none'") {
		t.Errorf("the page's CSP %q", res.CSP)
	}
	if !res.TokenFocused {
		t.Error("the token field does not have the focus when the page asks for it")
	}
	if !strings.Contains(res.FieldError, "chunkRecords") || res.FieldInvalid != "true" || !res.FieldFocused {
		t.Errorf("the refused request: error %q next to the field, aria-invalid %q, focused %v", res.FieldError, res.FieldInvalid, res.FieldFocused)
	}

	// The first export: the bar moved, then was full at completed, and
	// the chunk downloaded is the manifest's.
	m := manifest(t, addrs, res.First)
	if m.State != api.StateCompleted || len(m.Chunks) < 2 {
		t.Fatalf("first export: %s with %d chunks", m.State, len(m.Chunks))
	}
	if len(res.Seen) < 3 || res.Seen[len(res.Seen)-1] != m.Records {
		t.Errorf("records seen on the page %v: want the count to move and end at %d", res.Seen, m.Records)
	}
	for i := 1; i < len(res.Seen); i++ {
		if res.Seen[i] < res.Seen[i-1] {
			t.Errorf("records went back on the page: %v", res.Seen)
		}
	}
	if res.FirstBar.Value != res.FirstBar.Max || res.FirstBar.Max == 0 {
		t.Errorf("the completed export's bar: %v of %v", res.FirstBar.Value, res.FirstBar.Max)
	}
	data, err := os.ReadFile(res.ChunkFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	c := m.Chunks[0]
	if c.Name != res.ChunkName || hex.EncodeToString(sum[:]) != c.SHA256 || int64(len(data)) != c.Bytes {
		t.Errorf("downloaded %q (%d bytes, sha256 %x), the manifest's chunk 0 is %q (%d bytes, %s)",
			res.ChunkName, len(data), sum, c.Name, c.Bytes, c.SHA256)
	}
	if !strings.HasSuffix(res.Suggested, c.Name) {
		t.Errorf("the download's file name %q", res.Suggested)
	}

	// The old front end's handlers, over the adapter: every event once,
	// queued first, completed last with the count.
	if n := len(res.SocketEvents); n < 4 || res.SocketEvents[0] != "export-queued:0" ||
		res.SocketEvents[n-1] != fmt.Sprintf("export-completed:%d", m.Records) {
		t.Errorf("events through socket.js: %q", res.SocketEvents)
	}
	for _, name := range []string{api.EventFetching, api.EventFileGeneration, api.EventFinalizing} {
		if !slices.ContainsFunc(res.SocketEvents, func(s string) bool { return strings.HasPrefix(s, name+":") }) {
			t.Errorf("no %s through socket.js: %q", name, res.SocketEvents)
		}
	}

	// The second: cancelled while it ran.
	m2 := manifest(t, addrs, res.Second)
	if m2.State != api.StateCancelled || !res.ResumeShown {
		t.Errorf("second export: %s, resume button shown %v", m2.State, res.ResumeShown)
	}
	if res.PhoneOverflow > 0 {
		t.Errorf("at phone width the page is %d px wider than the screen", res.PhoneOverflow)
	}
	for _, name := range []string{"console-desktop.png", "console-phone.png"} {
		png, err := os.ReadFile(filepath.Join(shots, name))
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}

// startDaemon runs exportd serve in process on loopback ports, with an API
// token and a download secret, until the test ends.
func startDaemon(t *testing.T, uri string) daemon.Addrs {
	t.Helper()
	cfg := daemon.Default()
	cfg.DataDir = t.TempDir()
	cfg.MongoURI = uri
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.ProfilesDir = "../configs/profiles"
	cfg.APIToken = e2eToken
	cfg.DownloadSecret = "console-e2e-download-secret"
	cfg.ShutdownGrace = 20 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan daemon.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, slog.New(slog.DiscardHandler), func(a daemon.Addrs) { ready <- a })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("daemon did not stop")
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("daemon did not start")
	}
	return daemon.Addrs{}
}

// manifest asks the daemon for export id's manifest with the API token.
func manifest(t *testing.T, addrs daemon.Addrs, id string) *api.Manifest {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, addrs.Public+"/exports/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m api.Manifest
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil {
		t.Fatalf("manifest of %q: %s %s", id, resp.Status, body)
	}
	return &m
}
