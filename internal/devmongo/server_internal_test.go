package devmongo

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestFerretDBHandler(t *testing.T) {
	var buf bytes.Buffer
	next := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	l := slog.New(ferretdbHandler{level: slog.LevelWarn, next: next}).
		With("component", "ferretdb").WithGroup("g").With("conn", 7)

	l.Info("Connection started")
	l.Warn("Response header: length: 121")
	l.Warn("Response message:\n{...}")
	l.Warn("Failed to accept connection")
	l.Error("Response message: closing connection")
	l.With("args", "huge").Debug(">>> INSERT")

	got := buf.String()
	for _, want := range []string{
		`level=WARN msg="Failed to accept connection" component=ferretdb g.conn=7`,
		`level=ERROR msg="Response message: closing connection" component=ferretdb g.conn=7`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 2 {
		t.Errorf("%d records, want 2:\n%s", n, got)
	}
	if h := (ferretdbHandler{level: slog.LevelWarn, next: next}); h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Info enabled at level Warn")
	}
}

// BenchmarkFerretDBHandlerWith measures what FerretDB pays for each SQL
// statement: Logger.With with the statement's arguments, then a Debug record.
func BenchmarkFerretDBHandlerWith(b *testing.B) {
	var buf bytes.Buffer
	l := slog.New(ferretdbHandler{level: slog.LevelWarn, next: slog.NewTextHandler(&buf, nil)})
	args := []any{strings.Repeat(`{"$s":{"p":{"_id":{"t":"objectId"}}},"title":"x"}`, 100)}
	b.ReportAllocs()
	for b.Loop() {
		l.With("query", "INSERT", "args", args).Debug(">>> INSERT")
	}
	if buf.Len() != 0 {
		b.Fatalf("Debug record written: %s", buf.String())
	}
}
