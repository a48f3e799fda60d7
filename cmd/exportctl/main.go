// Command exportctl is the client of exportd serve: it starts, watches,
// lists, cancels, resumes and deletes exports over NATS (the exportd micro
// service), and downloads them over HTTP, resuming and verifying each
// chunk. README.md in this directory documents the commands, how get
// resumes and verifies, and how download URLs and tokens work.
//
// Exit status: 0 done; 1 failure (also a failed or cancelled export, and
// get of an export that has not completed); 2 bad usage or a request the
// service refused (400); 3 unknown export (404); 130 interrupted.
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

const usage = `usage: exportctl [global flags] <command> [flags] [ID]

commands:
  start     start an export (flags or --request FILE); prints its id; --wait watches and downloads it
  watch     follow an export's progress until it ends
  status    print an export's manifest
  list      list the exports (--state S)
  cancel    stop a queued or running export
  resume    queue a failed or cancelled export again
  delete    delete an export and its files (a queued or running one is cancelled first)
  get       download an export's chunks into --out, resuming, verifying SHA-256

Run 'exportctl <command> -h' for the command's flags.
`

var (
	// errUsage marks a command line that cannot be run; it exits 2.
	errUsage = errors.New("usage")
	// errInterrupted marks a run stopped by a signal; it exits 130.
	errInterrupted = errors.New("interrupted")
)

func main() {
	cfg, err := parseArgs(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return // the usage is printed
	}
	if err != nil {
		os.Exit(exitCode(err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %v", errInterrupted, err)
	}
	stop()
	os.Exit(exitCode(err))
}

// exitCode prints err and maps it to the exit status: 0 done, 1 failure,
// 2 usage or bad request, 3 unknown export, 130 interrupted.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "exportctl: %v\n", err)
	var se *serviceError
	var he *httpError
	code := 0
	switch {
	case errors.Is(err, errInterrupted):
		return 130
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &se):
		code = se.Code
	case errors.As(err, &he):
		code = he.Status
	}
	if exit, ok := map[int]int{400: 2, 404: 3}[code]; ok {
		return exit
	}
	return 1
}
