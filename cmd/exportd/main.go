// Command exportd exports MongoDB collections into chunked, compressed,
// resumable files: in the foreground (exportd export) or as a daemon
// (exportd serve).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/request"
)

const usage = `usage: exportd <command> [flags]

commands:
  export   run one export in the foreground into --out: a directory, one file or
           - for stdout (a directory or file resumes when run again)
  serve    run the daemon: NATS service, HTTP downloads, job runner

Run 'exportd <command> -h' for the command's flags.
`

// errUsage marks a command line that cannot be run; it exits 2.
var errUsage = errors.New("usage")

// errInterrupted marks a run stopped by a signal; it exits 130.
var errInterrupted = errors.New("interrupted")

// errHelp means -h printed the usage; it exits 0.
var errHelp = errors.New("help shown")

// parseFlags parses args into fs. With -h it prints usage and the flags on
// standard output and returns errHelp.
func parseFlags(fs *flag.FlagSet, args []string, usage string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Println(usage)
			fs.PrintDefaults()
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "export":
		err = runExport(ctx, args)
	case "serve":
		err = runServe(ctx, args)
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "exportd: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	os.Exit(exitCode(err))
}

// exitCode maps an error to the exit status: 0 done, 2 bad usage or
// request (an --out holding something else included), 130 interrupted,
// 141 standard output closed (silently, as a process killed by SIGPIPE),
// 1 anything else.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errBrokenPipe):
		return 141
	case errors.Is(err, errUsage), errors.Is(err, request.ErrInvalid), errors.Is(err, export.ErrForeignDir):
		fmt.Fprintf(os.Stderr, "exportd: %v\n", err)
		return 2
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(os.Stderr, "exportd: %v\n", err)
		return 130
	}
	fmt.Fprintf(os.Stderr, "exportd: %v\n", err)
	return 1
}
