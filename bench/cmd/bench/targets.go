package main

import (
	"fmt"
	"strings"

	"github.com/exportd/exportd/bench"
	"github.com/exportd/exportd/bench/e2e"
)

// The performance targets exportd is held to.
const (
	wallRatio      = 1.15 // exportd's wall time over the bare cursor's, at most
	cpuRatio       = 0.2  // exportd's CPU per document over the seed design's, at most
	rssRatio       = 0.5  // exportd's peak RSS over the seed design's, at most
	rssGrowth      = 1.1  // peak RSS at the largest size over the smallest, at most
	rssCap         = 64   // MiB of peak RSS at the largest size, below
	resumeRatio    = 1.5  // resume at 90% over resume at 10%, at most
	serveMBps      = 1000 // MB/s serving one sealed chunk, at least
	compareCPUWith = "zstd"
)

// collectTargets checks every target the run has the figures for.
func collectTargets(r *results) []target {
	var ts []target
	if r.pipeline != nil {
		// The pipeline table checks its rows against bench.IssueTargets;
		// the ceiling's share is this list's target.
		for _, row := range r.pipeline.Pipeline {
			if row.Name != "ndjson-zstd" && row.Name != "csv-gzip" {
				continue
			}
			for _, c := range row.Checks {
				if c.What != "ceiling share" {
					continue
				}
				ts = append(ts, target{
					what:     fmt.Sprintf("pipeline ≥ %.1f of its stages' ceiling: %s at %d core(s)", c.Bar, row.Name, row.Procs),
					measured: fmt.Sprintf("%.2f (%s of %s docs/s)", row.Share, bench.Num(row.DocsPerSec), bench.Num(row.Ceiling)),
					ok:       c.OK,
				})
			}
		}
	}
	if r.e2e != nil {
		ts = append(ts, e2eTargets(r)...)
		if rs := r.e2e.Resumes; len(rs) == 2 && rs[0].FirstRecord > 0 {
			ratio := rs[1].FirstRecord.Seconds() / rs[0].FirstRecord.Seconds()
			ts = append(ts, target{
				what:     fmt.Sprintf("resume at 90%% ≤ %.1f× resume at 10%%", resumeRatio),
				measured: fmt.Sprintf("%.2f× (%.2f s against %.2f s)", ratio, rs[1].FirstRecord.Seconds(), rs[0].FirstRecord.Seconds()),
				ok:       ratio <= resumeRatio,
			})
		}
	}
	if r.http != nil {
		if v, n := r.http.Median("HTTPDownload/chunk/whole", procsOf(r.http), "MB/s"); n > 0 {
			ts = append(ts, target{what: "serving a sealed chunk ≥ 1 GB/s on loopback",
				measured: fmt.Sprintf("%s MB/s", bench.Num(v)), ok: v >= serveMBps})
		}
	}
	if r.costs != nil {
		for _, c := range costPairs {
			without, with, ok := costOf(r.costs, c)
			if !ok {
				continue
			}
			cost := 1 - with/without
			ts = append(ts, target{what: fmt.Sprintf("%s ≤ %.0f%%", strings.TrimSuffix(c.name, "Cost")+" cost", c.limit*100),
				measured: fmt.Sprintf("%+.1f%%", cost*100), ok: cost <= c.limit})
		}
	}
	return ts
}

func e2eTargets(r *results) []target {
	res := r.e2e
	var ts []target
	for _, size := range r.sizes {
		worst, which := 0.0, ""
		for _, run := range res.Runs {
			if cur := cursorFor(res, run); run.Tool == e2e.ToolExportd && run.Size == size && cur > 0 {
				if q := run.Wall.Seconds() / cur.Seconds(); q > worst {
					worst, which = q, run.Config()
				}
			}
		}
		if which != "" {
			ts = append(ts, target{what: fmt.Sprintf("wall time ≤ %.2f× the bare cursor's, %d tasks, every format and compression", wallRatio, size),
				measured: fmt.Sprintf("%.2f at worst (%s)", worst, which), ok: worst <= wallRatio})
		}
	}
	for _, size := range r.sizes {
		for _, format := range []string{"csv", "json"} {
			ours, ok1 := res.Find(e2e.ToolExportd, size, format+"/"+compareCPUWith)
			seed, ok2 := res.Find(e2e.ToolSeedNode, size, format)
			if !ok1 || !ok2 {
				continue
			}
			q := cpuPerDoc(ours) / cpuPerDoc(seed)
			ts = append(ts, target{what: fmt.Sprintf("CPU per document ≤ %.1f× the seed design's: %s/%s against its %s, %d tasks", cpuRatio, format, compareCPUWith, format, size),
				measured: fmt.Sprintf("%.2f× (%.2f µs against %.2f µs)", q, cpuPerDoc(ours), cpuPerDoc(seed)), ok: q <= cpuRatio})
		}
		for _, p := range seedPairs(res, []int64{size}) {
			if p.ours.Compression == "none" {
				continue
			}
			q := float64(p.ours.RSS) / float64(p.seed.RSS)
			ts = append(ts, target{what: fmt.Sprintf("peak RSS ≤ %.1f× the seed design's: %s against its %s, %d tasks", rssRatio, p.ours.Config(), p.seed.Config(), size),
				measured: fmt.Sprintf("%.2f× (%.1f MiB against %.1f MiB)", q, mib(p.ours.RSS), mib(p.seed.RSS)), ok: q <= rssRatio})
		}
	}
	if len(r.sizes) > 1 {
		small, large := r.sizes[0], r.sizes[len(r.sizes)-1]
		worst, which, top := 0.0, "", int64(0)
		for _, run := range res.Runs {
			if run.Tool != e2e.ToolExportd || run.Size != large {
				continue
			}
			top = max(top, run.RSS)
			if s, ok := res.Find(e2e.ToolExportd, small, run.Config()); ok && s.RSS > 0 {
				if q := float64(run.RSS) / float64(s.RSS); q > worst {
					worst, which = q, run.Config()
				}
			}
		}
		if which != "" {
			ts = append(ts, target{what: fmt.Sprintf("peak RSS at %d tasks ≤ %.1f× at %d, every format and compression", large, rssGrowth, small),
				measured: fmt.Sprintf("%.2f× at worst (%s)", worst, which), ok: worst <= rssGrowth})
			ts = append(ts, target{what: fmt.Sprintf("peak RSS at %d tasks < %d MiB", large, rssCap),
				measured: fmt.Sprintf("%.1f MiB at most", mib(top)), ok: mib(top) < rssCap})
		}
	}
	return ts
}
