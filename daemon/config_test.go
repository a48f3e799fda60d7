package daemon_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/exportd/exportd/daemon"
)

// TestDocumentedConfig: configs/exportd.yaml names every setting with its
// built-in default, as it says it does.
func TestDocumentedConfig(t *testing.T) {
	cfg := daemon.Default()
	if err := cfg.LoadFile("../configs/exportd.yaml"); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Allow) == 0 {
		cfg.Allow = nil // "allow: []"
	}
	if want := daemon.Default(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("configs/exportd.yaml gives\n%+v\nthe defaults are\n%+v", cfg, want)
	}
}

// TestConfigRefusals: each wrong setting is named.
func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(*daemon.Config)
		field string
	}{
		{"creds with the embedded server", func(c *daemon.Config) { c.NATS.CredsFile = "x.creds" }, "nats.credsFile"},
		{"token and nkey", func(c *daemon.Config) { c.NATS.Token, c.NATS.NKeyFile = "t", "k" }, "nats.token, nats.nkeyFile"},
		{"short API token", func(c *daemon.Config) { c.APIToken = "short" }, "apiToken"},
		{"bad allow entry", func(c *daemon.Config) { c.Allow = []string{"app"} }, "allow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := daemon.Default()
			cfg.MongoURI = "mongodb://127.0.0.1:27017/"
			tc.set(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}
