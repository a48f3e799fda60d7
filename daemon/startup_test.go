package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConfigPathsRelativeToFile: a relative path in the --config file is
// taken from the file's directory, whatever the working directory; an
// absolute one, an empty one, and the paths the file does not set (the
// defaults, relative to the working directory) are left alone, as are
// the paths the environment gives afterwards.
func TestConfigPathsRelativeToFile(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	dir := filepath.Join(root, "etc", "exportd")
	abs := filepath.Join(root, "ca.pem")
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       func(c *daemon.Config) map[string][2]string // key: {got, want}
	}{
		{
			name: "every path key relative",
			yaml: "dataDir: data\nprofilesDir: ../profiles\nnats:\n  url: nats://127.0.0.1:4222\n  credsFile: user.creds\n" +
				"  tlsCert: tls/cert.pem\n  tlsKey: ./tls/key.pem\n  tlsCa: " + abs + "\n",
			want: func(c *daemon.Config) map[string][2]string {
				return map[string][2]string{
					"dataDir":        {c.DataDir, filepath.Join(dir, "data")},
					"profilesDir":    {c.ProfilesDir, filepath.Join(root, "etc", "profiles")},
					"nats.credsFile": {c.NATS.CredsFile, filepath.Join(dir, "user.creds")},
					"nats.tlsCert":   {c.NATS.TLSCert, filepath.Join(dir, "tls", "cert.pem")},
					"nats.tlsKey":    {c.NATS.TLSKey, filepath.Join(dir, "tls", "key.pem")},
					"nats.tlsCa":     {c.NATS.TLSCA, abs},
					"nats.nkeyFile":  {c.NATS.NKeyFile, ""},
				}
			},
		},
		{
			name: "nkey relative, paths not in the file keep their defaults",
			yaml: "nats:\n  nkeyFile: keys/user.nk\n",
			want: func(c *daemon.Config) map[string][2]string {
				return map[string][2]string{
					"dataDir":       {c.DataDir, "exportd-data"},
					"profilesDir":   {c.ProfilesDir, daemon.DefaultProfilesDir},
					"nats.nkeyFile": {c.NATS.NKeyFile, filepath.Join(dir, "keys", "user.nk")},
				}
			},
		},
		{
			name: "the environment stays relative to the working directory",
			yaml: "dataDir: data\n",
			env:  map[string]string{"EXPORTD_DATA": "elsewhere"},
			want: func(c *daemon.Config) map[string][2]string {
				return map[string][2]string{"dataDir": {c.DataDir, "elsewhere"}}
			},
		},
		{
			name: "an empty file changes nothing",
			yaml: "# every key commented out\n",
			want: func(c *daemon.Config) map[string][2]string {
				return map[string][2]string{"dataDir": {c.DataDir, "exportd-data"}}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "exportd.yaml"), tc.yaml)
			cfg := daemon.Default()
			// Relative to the working directory (root), as a flag gives it.
			if err := cfg.LoadFile(filepath.Join("etc", "exportd", "exportd.yaml")); err != nil {
				t.Fatal(err)
			}
			cfg.LoadEnv(func(k string) string { return tc.env[k] })
			for key, gw := range tc.want(&cfg) {
				if gw[0] != gw[1] {
					t.Errorf("%s = %q, want %q", key, gw[0], gw[1])
				}
			}
		})
	}
}

// runConfig is a configuration that daemon.Run starts with when MongoDB is
// at uri (nothing listens at the default one).
func runConfig(t *testing.T, uri string) daemon.Config {
	cfg := daemon.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.MongoURI = uri
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:0"
	return cfg
}

// TestProfilesDirRefused: a profiles directory that the configuration file
// names but that is not there (or is not a directory, or holds a profile
// that does not check out) stops the daemon at start-up, with an error
// that names the path as resolved against the file's directory, before
// anything is created or connected.
func TestProfilesDirRefused(t *testing.T) {
	for _, tc := range []struct {
		name, profilesDir string
		prepare           func(dir string)
		want              string // DIR is the file's directory
	}{
		{"missing", "profiles", func(string) {}, "profilesDir DIR/profiles: no such directory"},
		{"a file", "profiles.yaml", func(dir string) { writeFile(t, filepath.Join(dir, "profiles.yaml"), "name: x\n") },
			"profilesDir DIR/profiles.yaml: not a directory"},
		{"a bad profile", "profiles", func(dir string) { writeFile(t, filepath.Join(dir, "profiles", "bad.yaml"), "colour: red\n") },
			"profile DIR/profiles/bad.yaml: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.prepare(dir)
			file := filepath.Join(dir, "exportd.yaml")
			writeFile(t, file, "profilesDir: "+tc.profilesDir+"\n")
			cfg := runConfig(t, "mongodb://127.0.0.1:1/")
			if err := cfg.LoadFile(file); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := daemon.Run(ctx, cfg, slog.New(slog.DiscardHandler), func(daemon.Addrs) { t.Error("the daemon started") })
			if want := strings.ReplaceAll(tc.want, "DIR", dir); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run = %v, want an error saying %q", err, want)
			}
			if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created: %v", err)
			}
		})
	}
}

// TestProfilesLogged: the daemon says at start-up which profiles it
// loaded, from where, by name; and when the default directory is not
// there (a daemon started outside a checkout), it starts without profiles
// and says that instead.
func TestProfilesLogged(t *testing.T) {
	db := devmongotest.Spawn(t)
	profiles := t.TempDir()
	tasksYAML, err := os.ReadFile("../configs/profiles/tasks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(profiles, "tasks.yaml"), string(tasksYAML))
	writeFile(t, filepath.Join(profiles, "audit.yaml"), "database: app\ncollection: audit\n")
	writeFile(t, filepath.Join(profiles, "README.md"), "not a profile\n")

	t.Run("loaded", func(t *testing.T) {
		var log logBuffer
		d := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) { c.ProfilesDir = profiles },
			slog.New(slog.NewTextHandler(&log, nil)))
		d.stop(t)
		want := `msg="request profiles loaded" profilesDir=` + profiles + ` count=2 profiles=audit,tasks`
		if !strings.Contains(log.String(), want) {
			t.Fatalf("the log does not say\n%s\n%s", want, log.String())
		}
	})
	t.Run("default directory missing", func(t *testing.T) {
		elsewhere := t.TempDir()
		t.Chdir(elsewhere)
		var log logBuffer
		d := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) { c.ProfilesDir = daemon.DefaultProfilesDir },
			slog.New(slog.NewTextHandler(&log, nil)))
		msg, body := d.request(t, "exports.start", `{"profile": "tasks"}`)
		if code := msg.Header.Get("Nats-Service-Error-Code"); code != "400" || !strings.Contains(string(body), `"field":"profile"`) {
			t.Errorf("start with a profile and none loaded: %s %s, want 400 naming profile", code, body)
		}
		d.stop(t)
		want := `msg="no request profiles: the default profiles directory does not exist" profilesDir=` + filepath.Join(elsewhere, daemon.DefaultProfilesDir)
		if !strings.Contains(log.String(), want) {
			t.Fatalf("the log does not say\n%s\n%s", want, log.String())
		}
	})
}
