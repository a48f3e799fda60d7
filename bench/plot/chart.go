package plot

import (
	"cmp"
	"image"
	"math"
	"slices"
	"strconv"
)

// Layout of a chart within its half of the figure, in pixels: the title
// at the top, the legend under it, the y label above the axis, and the
// plot area inside the margins.
const (
	titleY       = 10
	legendY      = 44
	legendRow    = 16
	swatch       = 10
	marginLeft   = 64
	marginRight  = 24
	marginBottom = 64
	plotWidth    = Width/2 - marginLeft - marginRight
	inset        = 14 // between the y axis (or right edge) and the first (or last) point of a line
	headroom     = 1.08
)

// headerHeight is the y where the plot area of a chart starts, given the
// names in its legend.
func headerHeight(names []string) int {
	places := legendPlaces(names)
	return legendY + places[len(places)-1].Y + legendRow + 4 + face.Height + 8
}

// legendPlaces returns where each legend entry starts, from the legend's
// top left, wrapping rows at the plot width.
func legendPlaces(names []string) []image.Point {
	places := make([]image.Point, len(names))
	x, y := 0, 0
	for i, n := range names {
		w := swatch + 5 + textWidth(n, 1)
		if x > 0 && x+w > plotWidth {
			x, y = 0, y+legendRow
		}
		places[i] = image.Pt(x, y)
		x += w + 18
	}
	return places
}

// frame is one chart's plot area and its y axis from 0 to yMax.
type frame struct {
	area image.Rectangle
	yMax float64
}

// y is the row of value v.
func (f frame) y(v float64) int {
	return f.area.Max.Y - int(math.Round(v/f.yMax*float64(f.area.Dy())))
}

// decorate draws a chart's title, legend, y label, grid and axes, and
// returns its frame. The y axis reaches a little above yData, so that a
// bar's value or a marker fits above the highest one.
func decorate(dst *image.RGBA, top int, title, yLabel string, names []string, yData float64) frame {
	b := dst.Bounds()
	area := image.Rect(b.Min.X+marginLeft, top, b.Max.X-marginRight, b.Max.Y-marginBottom)
	scale := 2
	if textWidth(title, 2) > b.Dx()-20 {
		scale = 1
	}
	text(dst, b.Min.X+10, titleY, title, black, scale, alignLeft)
	for i, p := range legendPlaces(names) {
		x, y := area.Min.X+p.X, legendY+p.Y
		fillRect(dst, image.Rect(x, y+1, x+swatch, y+1+swatch), palette[i])
		text(dst, x+swatch+5, y, names[i], black, 1, alignLeft)
	}
	text(dst, b.Min.X+10, top-face.Height-8, yLabel, black, 1, alignLeft)

	step, yMax := niceTicks(yData * headroom)
	f := frame{area: area, yMax: yMax}
	for i := range int(math.Round(yMax/step)) + 1 {
		v := float64(i) * step
		y := f.y(v)
		fillRect(dst, image.Rect(area.Min.X, y, area.Max.X, y+1), gridGrey)
		fillRect(dst, image.Rect(area.Min.X-5, y, area.Min.X, y+1), black)
		text(dst, area.Min.X-8, y-face.Height/2, formatSI(v), black, 1, alignRight)
	}
	fillRect(dst, image.Rect(area.Min.X-2, area.Min.Y, area.Min.X, area.Max.Y+2), black)
	fillRect(dst, image.Rect(area.Min.X-2, area.Max.Y, area.Max.X, area.Max.Y+2), black)
	return f
}

// draw draws the bar chart into dst, its plot area starting at top.
func (b Bars) draw(dst *image.RGBA, top int) {
	most := 0.0
	for _, row := range b.Values {
		for _, v := range row {
			if !math.IsNaN(v) {
				most = max(most, v)
			}
		}
	}
	f := decorate(dst, top, b.Title, b.YLabel, b.Series, most)
	groupW := float64(f.area.Dx()) / float64(len(b.Groups))
	barW := groupW * 0.8 / float64(len(b.Series))
	gap := 0
	if barW >= 8 {
		gap = 2
	}
	// Labels wider than their group alternate between two rows.
	stagger := false
	for _, g := range b.Groups {
		stagger = stagger || float64(textWidth(g, 1)) > groupW-6
	}
	for j, g := range b.Groups {
		left := float64(f.area.Min.X) + float64(j)*groupW
		y := f.area.Max.Y + 8
		if stagger && j%2 == 1 {
			y += face.Height + 2
		}
		text(dst, int(left+groupW/2), y, g, black, 1, alignCenter)
		for i, row := range b.Values {
			v := row[j]
			if math.IsNaN(v) {
				continue
			}
			x0 := int(math.Round(left + groupW*0.1 + float64(i)*barW))
			x1 := int(math.Round(left+groupW*0.1+float64(i+1)*barW)) - gap
			y := f.y(v)
			fillRect(dst, image.Rect(x0, y, max(x1, x0+1), f.area.Max.Y), palette[i])
			text(dst, (x0+x1)/2, y-3-face.Height, formatSI(v), darkGrey, 1, alignCenter)
		}
	}
}

// draw draws the line chart into dst, its plot area starting at top;
// names are the lines' names.
func (l Lines) draw(dst *image.RGBA, names []string, top int) {
	lo, hi := math.Inf(1), 0.0
	most := l.RefY
	for _, line := range l.Lines {
		for _, p := range line.Points {
			lo, hi, most = min(lo, p.X), max(hi, p.X), max(most, p.Y)
		}
	}
	f := decorate(dst, top, l.Title, l.YLabel, names, most)
	xs := newXScale(lo, hi, l.LogX, f.area.Min.X+inset, f.area.Max.X-inset)
	for _, v := range xs.ticks {
		x := xs.x(v)
		fillRect(dst, image.Rect(x, f.area.Max.Y+2, x+1, f.area.Max.Y+7), black)
		text(dst, x, f.area.Max.Y+9, formatSI(v), black, 1, alignCenter)
	}
	text(dst, (f.area.Min.X+f.area.Max.X)/2, f.area.Max.Y+30, l.XLabel, black, 1, alignCenter)
	if l.RefY > 0 {
		y := f.y(l.RefY)
		line(dst, f.area.Min.X, y, f.area.Max.X, y, darkGrey, 8)
		text(dst, f.area.Max.X-4, y-4-face.Height, l.RefLabel, darkGrey, 1, alignRight)
	}
	for i, ln := range l.Lines {
		pts := slices.SortedStableFunc(slices.Values(ln.Points), func(a, b Point) int { return cmp.Compare(a.X, b.X) })
		for k := 1; k < len(pts); k++ {
			line(dst, xs.x(pts[k-1].X), f.y(pts[k-1].Y), xs.x(pts[k].X), f.y(pts[k].Y), palette[i], 0)
		}
		for _, p := range pts {
			disc(dst, xs.x(p.X), f.y(p.Y), 4, palette[i])
		}
	}
}

// xScale maps x values onto columns x0..x1, linearly from 0 or by log10
// between powers of ten.
type xScale struct {
	log    bool
	lo, hi float64 // on a log scale, the exponents of the ends
	x0, x1 int
	ticks  []float64
}

func newXScale(lo, hi float64, log bool, x0, x1 int) xScale {
	s := xScale{log: log, x0: x0, x1: x1}
	if !log {
		step, top := niceTicks(hi)
		s.hi = top
		for i := range int(math.Round(top/step)) + 1 {
			s.ticks = append(s.ticks, float64(i)*step)
		}
		return s
	}
	s.lo, s.hi = math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if s.hi == s.lo {
		s.hi++
	}
	mults := []float64{1}
	if s.hi-s.lo <= 2 {
		mults = []float64{1, 2, 5}
	}
	for k := s.lo; k <= s.hi; k++ {
		for _, m := range mults {
			if v := m * math.Pow(10, k); v <= math.Pow(10, s.hi) {
				s.ticks = append(s.ticks, v)
			}
		}
	}
	return s
}

// x is the column of value v.
func (s xScale) x(v float64) int {
	t := v / s.hi
	if s.log {
		t = (math.Log10(v) - s.lo) / (s.hi - s.lo)
	}
	return s.x0 + int(math.Round(t*float64(s.x1-s.x0)))
}

// niceTicks returns a tick step of 1, 2, 2.5 or 5 times a power of ten
// that divides 0..most into about five steps, and the first multiple of
// it that is at least most.
func niceTicks(most float64) (step, top float64) {
	if most <= 0 {
		most = 1
	}
	exp := math.Floor(math.Log10(most / 5))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		step = m * math.Pow(10, exp)
		if step*5 >= most*(1-1e-9) {
			break
		}
	}
	return step, step * math.Ceil(most/step-1e-9)
}

// formatSI formats a non-negative v to three significant digits with a
// k, M or G suffix: 0, 0.25, 950, 1.5k, 351k, 1.2M.
func formatSI(v float64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		// 999.5 rounds up to 1k, not to 1000.
		if v >= u.div*0.9995 {
			return sig3(v/u.div) + u.suffix
		}
	}
	return sig3(v)
}

// sig3 formats v with three significant digits and no trailing zeros.
func sig3(v float64) string {
	if v == 0 {
		return "0"
	}
	decimals := max(0, 2-int(math.Floor(math.Log10(math.Abs(v)))))
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if decimals > 0 {
		for s[len(s)-1] == '0' {
			s = s[:len(s)-1]
		}
		if s[len(s)-1] == '.' {
			s = s[:len(s)-1]
		}
	}
	return s
}
