package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/exportd/exportd/internal/devmongo"
)

// serve runs a server until ctx is cancelled, then stops it cleanly.
func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	srv, err := devmongo.Start(ctx, devmongo.Options{
		Addr:     cfg.addr,
		Dir:      cfg.dir,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel})),
		LogLevel: cfg.logLevel,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "devmongo: serving %s with data in %s; stop with Ctrl-C\n", srv.URI(), cfg.dir)

	<-ctx.Done()
	fmt.Fprintln(stderr, "devmongo: stopping")
	if err := srv.Close(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Fprintln(stderr, "devmongo: stopped")
	return nil
}
