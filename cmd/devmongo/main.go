// Command devmongo runs a development MongoDB-compatible server (FerretDB with
// SQLite, embedded) and fills it with exportd's synthetic tasks.
//
//	devmongo serve [-addr 127.0.0.1:27017] [-dir devmongo-data] [-log-level warn]
//	devmongo seed -n N [-uri mongodb://127.0.0.1:27017/] [-db app] [-collection tasks] [-start K] [-drop]
//
// serve runs until SIGINT or SIGTERM and then stops cleanly. seed inserts tasks
// K to K+N-1 (see package internal/devmongo) and prints progress and a summary.
// Both print to standard error. The exit code is 0 on success, 1 on failure and
// 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := parseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "devmongo: %v\n", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one ends the process at once
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "devmongo: %v\n", err)
		os.Exit(1)
	}
}

// run runs the command that cfg names.
func run(ctx context.Context, cfg config) error {
	switch cfg.command {
	case "serve":
		return serve(ctx, cfg.serve, cfg.stderr)
	case "seed":
		return seed(ctx, cfg.seed, cfg.stderr)
	}
	return fmt.Errorf("unknown command %q", cfg.command) // parseArgs lets none through
}
