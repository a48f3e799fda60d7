package main

import (
	"io"
	"math"
	"slices"
	"strings"

	"github.com/exportd/exportd/bench/e2e"
	"github.com/exportd/exportd/bench/plot"
)

// figureConfigs are the format × compression groups of the bar chart.
var figureConfigs = []string{"ndjson/none", "ndjson/gzip", "ndjson/zstd", "json/none", "json/gzip", "json/zstd", "csv/none", "csv/gzip", "csv/zstd"}

// rssLines are the runs whose peak RSS the line chart follows.
var rssLines = []struct{ tool, config string }{
	{e2e.ToolExportd, "ndjson/zstd"}, {e2e.ToolExportd, "json/zstd"}, {e2e.ToolExportd, "csv/zstd"}, {e2e.ToolExportd, "csv/gzip"},
	{e2e.ToolSeedNode, "csv"}, {e2e.ToolSeedNode, "csv/gzip"}, {e2e.ToolSeedNode, "json"}, {e2e.ToolSeedNode, "json/gzip"},
}

// renderFigure draws throughput.png: the pipeline's docs/s per format and
// compression at 1 and 2 cores (or, without the pipeline part, end-to-end
// docs/s), and peak RSS against the documents exported.
func renderFigure(w io.Writer, r *results) error {
	var f plot.Figure
	f.Left = plot.Bars{Groups: figureConfigs, YLabel: "docs/s"}
	if r.pipeline != nil {
		f.Left.Title = "pipeline docs/s, 200,000 in-memory tasks"
		for _, procs := range []int{1, 2} {
			vals := make([]float64, len(figureConfigs))
			for i, c := range figureConfigs {
				vals[i] = math.NaN()
				for _, row := range r.pipeline.Pipeline {
					if row.Procs == procs && row.Name == strings.Replace(c, "/", "-", 1) {
						vals[i] = row.DocsPerSec
					}
				}
			}
			f.Left.Series = append(f.Left.Series, map[int]string{1: "1 core", 2: "2 cores"}[procs])
			f.Left.Values = append(f.Left.Values, vals)
		}
	} else if r.e2e != nil {
		size := r.sizes[len(r.sizes)-1]
		f.Left.Title = "end-to-end docs/s on devmongo"
		for _, tool := range []string{e2e.ToolExportd, e2e.ToolSeedNode} {
			vals := make([]float64, len(figureConfigs))
			for i, c := range figureConfigs {
				vals[i] = math.NaN()
				if tool == e2e.ToolSeedNode {
					c = strings.TrimSuffix(c, "/none")
				}
				if run, ok := r.e2e.Find(tool, size, c); ok {
					vals[i] = float64(run.Records) / run.Wall.Seconds()
				}
			}
			f.Left.Series = append(f.Left.Series, tool)
			f.Left.Values = append(f.Left.Values, vals)
		}
	}
	f.Right = plot.Lines{Title: "peak RSS against tasks exported", XLabel: "tasks", YLabel: "MiB", LogX: true,
		RefY: rssCap, RefLabel: "64 MiB target"}
	if r.e2e != nil {
		for _, l := range rssLines {
			line := plot.Line{Name: l.tool + " " + l.config}
			for _, size := range r.sizes {
				if run, ok := r.e2e.Find(l.tool, size, l.config); ok && run.RSS > 0 {
					line.Points = append(line.Points, plot.Point{X: float64(size), Y: mib(run.RSS)})
				}
			}
			if len(line.Points) > 0 {
				f.Right.Lines = append(f.Right.Lines, line)
			}
		}
	}
	if len(f.Left.Series) == 0 || len(f.Right.Lines) == 0 || slices.IndexFunc(f.Left.Values, hasValue) < 0 {
		return errNoFigure
	}
	return plot.Render(w, f)
}

func hasValue(vals []float64) bool {
	return slices.IndexFunc(vals, func(v float64) bool { return !math.IsNaN(v) }) >= 0
}
