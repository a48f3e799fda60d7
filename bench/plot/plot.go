// Package plot renders the benchmark figure as a PNG: on the left a
// grouped bar chart (docs/s per format and compression, one bar per series
// in each group), on the right a line chart (peak RSS against documents
// exported, one polyline per series, with an optional dashed target).
//
// It draws with the standard library's image packages and the fixed 7×13
// font of golang.org/x/image/font/basicfont, so text is ASCII: × is drawn
// as x, dashes as -, any other rune outside ASCII as ?. Both charts start
// their y axis at 0 and label ticks in thousands (200k, 1.2M); series take
// the palette's colours in order, at most eight per chart.
package plot

import (
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
)

// Width and Height are the size of the rendered figure in pixels; each
// chart takes half the width.
const (
	Width  = 1400
	Height = 560
)

// Bars is a grouped bar chart: along x one group per entry of Groups, in
// each group one bar per entry of Series, with its value printed above it.
type Bars struct {
	// Title is printed large above the chart.
	Title string
	// YLabel is printed above the y axis.
	YLabel string
	// Groups label the groups along x, in order.
	Groups []string
	// Series name the bars of each group, in order, in the legend.
	Series []string
	// Values holds one row per series and in each row one value per
	// group: Values[series][group]. A value is finite and not negative,
	// or NaN for a bar that is missing (no bar, no label).
	Values [][]float64
}

// Point is one measurement of a Line.
type Point struct{ X, Y float64 }

// Line is one series of a Lines chart, drawn as a polyline through its
// points in order of X, with a marker on each point.
type Line struct {
	// Name labels the line in the legend.
	Name string
	// Points are the measurements; Y is finite and not negative, X is
	// finite and not negative, and positive when the x axis is LogX.
	Points []Point
}

// Lines is a line chart with a y axis from 0 and an optional horizontal
// reference line.
type Lines struct {
	// Title is printed large above the chart.
	Title string
	// XLabel is printed below the x axis, YLabel above the y axis.
	XLabel, YLabel string
	// LogX puts the x axis on a log10 scale with a tick per power of ten.
	LogX bool
	// Lines are the series, in legend order.
	Lines []Line
	// RefY is the height of a dashed reference line, 0 for none.
	RefY float64
	// RefLabel is printed above the right end of the reference line.
	RefLabel string
}

// Figure is the whole figure: two charts side by side.
type Figure struct {
	Left  Bars
	Right Lines
}

// Render writes f to w as a Width×Height PNG. It draws nothing and
// returns an error wrapping ErrEmpty, ErrShape or ErrValue, naming the
// field at fault (for example Left.Values[1][2]), when f cannot be drawn.
func Render(w io.Writer, f Figure) error {
	if err := f.Left.validate("Left"); err != nil {
		return err
	}
	if err := f.Right.validate("Right"); err != nil {
		return err
	}
	img := image.NewRGBA(image.Rect(0, 0, Width, Height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	names := make([]string, len(f.Right.Lines))
	for i, l := range f.Right.Lines {
		names[i] = l.Name
	}
	// Both plot areas start at the same height, below the taller header.
	top := max(headerHeight(f.Left.Series), headerHeight(names))
	left := img.SubImage(image.Rect(0, 0, Width/2, Height)).(*image.RGBA)
	right := img.SubImage(image.Rect(Width/2, 0, Width, Height)).(*image.RGBA)
	f.Left.draw(left, top)
	f.Right.draw(right, names, top)
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("plot: encode png: %w", err)
	}
	return nil
}

// invalid builds Render's error for field.
func invalid(field string, err error, format string, args ...any) error {
	return fmt.Errorf("plot: %s: %s: %w", field, fmt.Sprintf(format, args...), err)
}

func (b Bars) validate(field string) error {
	switch {
	case len(b.Groups) == 0:
		return invalid(field+".Groups", ErrEmpty, "no groups")
	case len(b.Series) == 0:
		return invalid(field+".Series", ErrEmpty, "no series")
	case len(b.Series) > len(palette):
		return invalid(field+".Series", ErrShape, "%d series, at most %d", len(b.Series), len(palette))
	case len(b.Values) != len(b.Series):
		return invalid(field+".Values", ErrShape, "%d rows for %d series", len(b.Values), len(b.Series))
	}
	bars := 0
	for i, row := range b.Values {
		if len(row) != len(b.Groups) {
			return invalid(fmt.Sprintf("%s.Values[%d]", field, i), ErrShape,
				"%d values for %d groups", len(row), len(b.Groups))
		}
		for j, v := range row {
			if math.IsNaN(v) {
				continue
			}
			if math.IsInf(v, 0) || v < 0 {
				return invalid(fmt.Sprintf("%s.Values[%d][%d]", field, i, j), ErrValue, "%v", v)
			}
			bars++
		}
	}
	if bars == 0 {
		return invalid(field+".Values", ErrEmpty, "every value is NaN")
	}
	return nil
}

func (l Lines) validate(field string) error {
	if len(l.Lines) == 0 {
		return invalid(field+".Lines", ErrEmpty, "no lines")
	}
	if len(l.Lines) > len(palette) {
		return invalid(field+".Lines", ErrShape, "%d lines, at most %d", len(l.Lines), len(palette))
	}
	for i, line := range l.Lines {
		if len(line.Points) == 0 {
			return invalid(fmt.Sprintf("%s.Lines[%d].Points", field, i), ErrEmpty, "no points")
		}
		for j, p := range line.Points {
			at := fmt.Sprintf("%s.Lines[%d].Points[%d]", field, i, j)
			switch {
			case !finite(p.X) || p.X < 0:
				return invalid(at+".X", ErrValue, "%v", p.X)
			case l.LogX && p.X == 0:
				return invalid(at+".X", ErrValue, "%v on a log axis", p.X)
			case !finite(p.Y) || p.Y < 0:
				return invalid(at+".Y", ErrValue, "%v", p.Y)
			}
		}
	}
	if !finite(l.RefY) || l.RefY < 0 {
		return invalid(field+".RefY", ErrValue, "%v", l.RefY)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
