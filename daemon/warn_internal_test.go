package daemon

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestWarnExposed: a daemon reachable beyond loopback without credentials
// says so in its log, once per server; on loopback, or with credentials,
// it says nothing.
func TestWarnExposed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		set      func(*Config)
		httpAddr string
		want     []string
	}{
		{"loopback", func(*Config) {}, "127.0.0.1:8080", nil},
		{"NATS on every interface", func(c *Config) { c.NATS.Listen = "0.0.0.0:4222" }, "127.0.0.1:8080", []string{"embedded NATS server listens beyond loopback"}},
		{"NATS with a token", func(c *Config) { c.NATS.Listen, c.NATS.Token = "0.0.0.0:4222", "t" }, "127.0.0.1:8080", nil},
		{"external NATS", func(c *Config) { c.NATS.Listen, c.NATS.URL = "0.0.0.0:4222", "nats://10.0.0.1:4222" }, "127.0.0.1:8080", nil},
		{"HTTP on every interface", func(*Config) {}, "[::]:8080", []string{"HTTP server listens beyond loopback"}},
		{"HTTP with a secret", func(c *Config) { c.DownloadSecret = "s" }, "0.0.0.0:8080", nil},
		{"both", func(c *Config) { c.NATS.Listen = ":4222" }, "0.0.0.0:8080", []string{"NATS", "HTTP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.set(&cfg)
			var buf bytes.Buffer
			warnExposed(cfg, tc.httpAddr, slog.New(slog.NewTextHandler(&buf, nil)))
			out := buf.String()
			if n := strings.Count(out, "level=WARN"); n != len(tc.want) {
				t.Fatalf("%d warnings, want %d:\n%s", n, len(tc.want), out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("log does not say %q:\n%s", w, out)
				}
			}
		})
	}
}
