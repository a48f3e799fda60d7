package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where and on what a run measured.
type Machine struct {
	// Date is when the run began, in UTC.
	Date time.Time
	// CPU is the processor's model name; Cores the CPUs the process may
	// use; Memory the machine's RAM in bytes.
	CPU    string
	Cores  int
	Memory int64
	// Kernel is the running kernel's release.
	Kernel string
	// Go is the toolchain's version.
	Go string
	// Commit is the source's commit, with "+changes" when the tree differs
	// from it.
	Commit string
}

// Describe gathers the Machine from /proc, the go command and git; what
// cannot be read is "?".
func Describe(ctx context.Context, goCmd string) Machine {
	m := Machine{Date: time.Now().UTC(), Cores: runtime.NumCPU(), CPU: "?", Kernel: "?", Go: runtime.Version(), Commit: "?"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			m.Memory = kib << 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, goCmd, "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			m.Commit += "+changes"
		}
	}
	return m
}
