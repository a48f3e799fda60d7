package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/exportd/exportd/internal/procs"
)

// seedNode is the seed-node baseline installed in a directory of its own
// (npm ci from its lock file), so the shared copy stays untouched.
type seedNode struct {
	dir     string
	version string
}

// seedNodeFiles are what the baseline needs to install and run.
var seedNodeFiles = []string{"index.js", "package.json", "package-lock.json"}

func installSeedNode(ctx context.Context, from, dir string, log io.Writer) (*seedNode, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, ErrNode
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return nil, ErrNode
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, name := range seedNodeFiles {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			return nil, fmt.Errorf("seed-node baseline: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(log, "npm ci in %s\n", dir)
	npm := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	npm.Dir = dir
	if out, err := procs.CombinedOutput(npm); err != nil {
		return nil, fmt.Errorf("seed-node baseline: npm ci: %w\n%s", err, out)
	}
	v, err := procs.Output(exec.CommandContext(ctx, "node", "--version"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNode, err)
	}
	return &seedNode{dir: dir, version: strings.TrimSpace(string(v))}, nil
}

// exportedLine is the baseline's last line: "exported N records in S s".
var exportedLine = regexp.MustCompile(`exported (\d+) records in`)

// run exports the collection with the baseline: config is "csv", "json",
// "csv/gzip" or "json/gzip".
func (s *seedNode) run(ctx context.Context, uri, out string, size int64, config string) (Run, error) {
	format, comp, _ := strings.Cut(config, "/")
	if (format != "csv" && format != "json") || (comp != "" && comp != "gzip") {
		return Run{}, fmt.Errorf("%w: seed-node baseline %q (csv or json, optionally /gzip)", ErrConfig, config)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return Run{}, err
	}
	file := filepath.Join(out, "export."+format)
	defer os.Remove(file)
	args := []string{filepath.Join(s.dir, "index.js"), "--uri", uri, "--db", "app", "--collection", "tasks",
		"--format", format, "--out", file}
	if comp == "gzip" {
		args = append(args, "--gzip")
	}
	cmd := exec.CommandContext(ctx, "node", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	r := Run{Tool: ToolSeedNode, Size: size, Format: format, Compression: comp}
	if err := measureProcess(cmd, &r); err != nil {
		return r, fmt.Errorf("seed-node %s: %w\n%s", config, err, stderr.String())
	}
	m := exportedLine.FindAllSubmatch(stderr.Bytes(), -1)
	if len(m) == 0 {
		return r, fmt.Errorf("seed-node %s: no summary line in\n%s", config, stderr.String())
	}
	n, err := strconv.ParseInt(string(m[len(m)-1][1]), 10, 64)
	if err != nil {
		return r, err
	}
	r.Records = n
	if n != size {
		return r, fmt.Errorf("seed-node %s exported %d records of %d", config, n, size)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return r, err
	}
	r.Out = fi.Size()
	if r.Out == 0 {
		return r, errors.New("seed-node wrote an empty file")
	}
	return r, nil
}
