package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/procs"
)

// TestAuthenticatedDaemon: against a daemon whose embedded NATS server
// wants a token and whose HTTP routes want a credential, exportctl without
// them is refused with a message that says so, and with --token and
// --http-token it starts, watches, lists and downloads.
func TestAuthenticatedDaemon(t *testing.T) {
	const natsToken, apiToken = "the-nats-token-of-this-test", "the-api-token-of-this-test"
	d := startDaemonWith(t, func(c *daemon.Config) {
		c.NATS.Token = natsToken
		c.DownloadSecret = "a download secret of enough bytes"
		c.APIToken = apiToken
	}, nats.Token(natsToken))

	r := d.ctl(t, "", "list")
	if r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "authorization") {
		t.Fatalf("list without the token: exit %d, %s", r.code, r.stderr)
	}
	r = d.ctl(t, "", "--token", "not-the-token", "list")
	if r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "authorization") {
		t.Fatalf("list with a wrong token: exit %d, %s", r.code, r.stderr)
	}

	id := d.start(t, "--token", natsToken, "--chunk-records", "1000")
	// From here on the token comes from the environment, as a script
	// would give it.
	t.Setenv("EXPORTCTL_NATS_TOKEN", natsToken)
	d.mustCtl(t, "--token", natsToken, "watch", id)
	if got := d.mustCtl(t, "list", "--token", natsToken).stdout; !strings.Contains(got, id) {
		t.Fatalf("list: %s", got)
	}
	m := d.manifest(t, id)
	if m.State != api.StateCompleted {
		t.Fatalf("state %s", m.State)
	}

	// Downloads: without a credential 401, with the API token every chunk.
	r = d.ctl(t, "", "--token", natsToken, "get", id, "--out", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Fatalf("get without a credential: exit %d, %s", r.code, r.stderr)
	}
	r = d.ctl(t, "", "--token", natsToken, "--http-token", "a-wrong-api-token-for-sure", "get", id, "--out", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "403") {
		t.Fatalf("get with a wrong API token: exit %d, %s", r.code, r.stderr)
	}
	dir := t.TempDir()
	d.mustCtl(t, "--token", natsToken, "get", id, "--out", dir, "--http-token", apiToken)
	checkChunks(t, dir, m)

	// The API token from the environment too.
	cmd := d.command("get", id, "--out", filepath.Join(t.TempDir(), "env"))
	cmd.Env = append(os.Environ(), "EXPORTCTL_HTTP_TOKEN="+apiToken)
	if out, err := procs.CombinedOutput(cmd); err != nil {
		t.Fatalf("get with the tokens in the environment: %v\n%s", err, out)
	}
}
