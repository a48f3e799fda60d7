package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiles are the pprof files an export writes, as go test's
// -cpuprofile and -memprofile do.
type profiles struct {
	// CPU receives the CPU profile of the whole run.
	CPU string
	// Mem receives the heap profile (allocations sampled over the run)
	// when the run ends.
	Mem string
}

// start begins the CPU profile and returns the function that ends it and
// writes the heap profile.
func (p profiles) start() (stop func() error, err error) {
	var cpu *os.File
	if p.CPU != "" {
		if cpu, err = os.Create(p.CPU); err != nil {
			return nil, fmt.Errorf("%w: --cpuprofile: %v", errUsage, err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			return nil, errors.Join(fmt.Errorf("--cpuprofile: %w", err), cpu.Close())
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if p.Mem != "" {
			errs = append(errs, writeHeapProfile(p.Mem))
		}
		return errors.Join(errs...)
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	runtime.GC() // the profile shows the heap as of the last collection
	return errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
}
