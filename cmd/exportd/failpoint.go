package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/export"
)

// failpointEnv names a step of the chunk commit protocol at which the
// process kills itself with SIGKILL, for crash tests:
// EXPORTD_FAILPOINT=after-write|after-sync|after-rename|after-commit[:N]
// stops at chunk N (default 0) of this run's chunks, counted from 0.
const failpointEnv = "EXPORTD_FAILPOINT"

func installFailpoints(env *export.Env) {
	spec := os.Getenv(failpointEnv)
	if spec == "" {
		return
	}
	step, nth, _ := strings.Cut(spec, ":")
	n := 0
	if nth != "" {
		var err error
		if n, err = strconv.Atoi(nth); err != nil {
			fmt.Fprintf(os.Stderr, "exportd: ignoring %s=%q: %v\n", failpointEnv, spec, err)
			return
		}
	}
	seen := map[string]int{}
	hit := func(at string) func(string) {
		return func(string) {
			if at != step {
				return
			}
			if seen[at] == n {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal arrives; never go on
			}
			seen[at]++
		}
	}
	env.Hooks = chunker.Hooks{AfterWrite: hit("after-write"), AfterSync: hit("after-sync"), AfterRename: hit("after-rename")}
	commit := hit("after-commit")
	env.AfterCommit = func(c api.Chunk) { commit(c.Name) }
}
