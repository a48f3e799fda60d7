package plot

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"
)

// figure is a valid figure shaped like the benchmark's.
func figure() Figure {
	return Figure{
		Left: Bars{
			Title:  "docs/s per format × compression",
			YLabel: "docs/s",
			Groups: []string{"ndjson/none", "ndjson/gzip", "ndjson/zstd", "csv/none", "csv/gzip", "csv/zstd"},
			Series: []string{"1 core", "2 cores"},
			Values: [][]float64{
				{520_000, 310_000, 351_000, 480_000, 382_000, 340_000},
				{990_000, 590_000, 660_000, math.NaN(), 726_000, 640_000},
			},
		},
		Right: Lines{
			Title:  "peak RSS against documents exported",
			XLabel: "documents",
			YLabel: "MiB",
			LogX:   true,
			Lines: []Line{
				{Name: "exportd", Points: []Point{{100_000, 31}, {1_000_000, 38}, {10_000_000, 41}}},
				{Name: "seed-node", Points: []Point{{1_000_000, 180}, {100_000, 52}, {10_000_000, 1400}}},
			},
			RefY:     64,
			RefLabel: "64 MiB target",
		},
	}
}

// render renders f and decodes the PNG it wrote.
func render(tb testing.TB, f Figure) image.Image {
	tb.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, f); err != nil {
		tb.Fatalf("Render: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		tb.Fatalf("decode the PNG: %v", err)
	}
	return img
}

// blob is a run of adjacent columns holding pixels of one colour.
type blob struct {
	x0, x1 int // columns x0..x1-1
	height int // most pixels of the colour in one column
}

// blobs finds the runs of columns within r holding pixels of c that are
// taller than a legend swatch: the bars of c's series.
func blobs(img image.Image, r image.Rectangle, c color.RGBA) []blob {
	var found []blob
	var cur *blob
	for x := r.Min.X; x < r.Max.X; x++ {
		n := count(img, image.Rect(x, r.Min.Y, x+1, r.Max.Y), c)
		switch {
		case n == 0:
			cur = nil
		case cur == nil:
			found = append(found, blob{x0: x, x1: x + 1, height: n})
			cur = &found[len(found)-1]
		default:
			cur.x1, cur.height = x+1, max(cur.height, n)
		}
	}
	tall := found[:0]
	for _, b := range found {
		if b.height > 2*swatch {
			tall = append(tall, b)
		}
	}
	return tall
}

// count counts the pixels of c within r.
func count(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

var leftHalf = image.Rect(0, 0, Width/2, Height)

func TestRenderSize(t *testing.T) {
	img := render(t, figure())
	if got, want := img.Bounds(), image.Rect(0, 0, Width, Height); got != want {
		t.Fatalf("bounds %v, want %v", got, want)
	}
	if got := color.RGBAModel.Convert(img.At(Width/2, 2)); got != (color.RGBA{0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("background %v, want white", got)
	}
}

func TestBarHeightsProportional(t *testing.T) {
	f := figure()
	f.Left.Groups = []string{"a", "b", "c"}
	f.Left.Series = []string{"s"}
	f.Left.Values = [][]float64{{1, 2, 0.5}}
	bars := blobs(render(t, f), leftHalf, palette[0])
	if len(bars) != 3 {
		t.Fatalf("found %d bars, want 3: %+v", len(bars), bars)
	}
	for i, want := range []float64{2, 0.5} {
		if got := float64(bars[i+1].height) / float64(bars[0].height); math.Abs(got-want) > 0.02*want {
			t.Errorf("bar %d is %.3f times as tall as bar 0, want %v (heights %+v)", i+1, got, want, bars)
		}
	}
	for i := 1; i < len(bars); i++ {
		if bars[i].x0 <= bars[i-1].x1 {
			t.Errorf("bars %d and %d touch or overlap: %+v", i-1, i, bars)
		}
	}
}

func TestBarNaNDrawsNoBar(t *testing.T) {
	f := figure()
	f.Left.Groups = []string{"a", "b"}
	f.Left.Series = []string{"s1", "s2"}
	f.Left.Values = [][]float64{{1, 2}, {math.NaN(), 3}}
	img := render(t, f)
	s1, s2 := blobs(img, leftHalf, palette[0]), blobs(img, leftHalf, palette[1])
	if len(s1) != 2 {
		t.Fatalf("series s1 has %d bars, want 2: %+v", len(s1), s1)
	}
	if len(s2) != 1 {
		t.Fatalf("series s2 has %d bars, want 1: %+v", len(s2), s2)
	}
	// s2's only bar belongs to group b: right of s1's bar in b.
	if s2[0].x0 < s1[1].x1 {
		t.Errorf("s2's bar at columns %d..%d, want it in group b, right of s1's at %d..%d",
			s2[0].x0, s2[0].x1, s1[1].x0, s1[1].x1)
	}
}

func TestLinesDrawEachSeries(t *testing.T) {
	for _, logX := range []bool{false, true} {
		f := figure()
		f.Right.LogX = logX
		img := render(t, f)
		right := image.Rect(Width/2, 0, Width, Height)
		for i, l := range f.Right.Lines {
			// Far more than the legend swatch: a line and its markers.
			if n := count(img, right, palette[i]); n < 4*swatch*swatch {
				t.Errorf("logX=%v: line %q has %d pixels of its colour, want at least %d", logX, l.Name, n, 4*swatch*swatch)
			}
		}
		if n := count(img, right, darkGrey); n < 200 {
			t.Errorf("logX=%v: %d pixels of the reference line's colour, want a dashed line", logX, n)
		}
	}
}

func TestRenderInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Figure)
		err    error
		field  string
	}{
		{"no groups", func(f *Figure) { f.Left.Groups = nil }, ErrEmpty, "Left.Groups"},
		{"no series", func(f *Figure) { f.Left.Series = nil }, ErrEmpty, "Left.Series"},
		{"too many series", func(f *Figure) { f.Left.Series = make([]string, 9) }, ErrShape, "Left.Series"},
		{"a row missing", func(f *Figure) { f.Left.Values = f.Left.Values[:1] }, ErrShape, "Left.Values"},
		{"short row", func(f *Figure) { f.Left.Values[1] = f.Left.Values[1][:5] }, ErrShape, "Left.Values[1]"},
		{"negative value", func(f *Figure) { f.Left.Values[0][2] = -1 }, ErrValue, "Left.Values[0][2]"},
		{"infinite value", func(f *Figure) { f.Left.Values[1][4] = math.Inf(1) }, ErrValue, "Left.Values[1][4]"},
		{"only NaN", func(f *Figure) {
			for _, row := range f.Left.Values {
				for j := range row {
					row[j] = math.NaN()
				}
			}
		}, ErrEmpty, "Left.Values"},
		{"no lines", func(f *Figure) { f.Right.Lines = nil }, ErrEmpty, "Right.Lines"},
		{"no points", func(f *Figure) { f.Right.Lines[1].Points = nil }, ErrEmpty, "Right.Lines[1].Points"},
		{"zero X on log axis", func(f *Figure) { f.Right.Lines[0].Points[1].X = 0 }, ErrValue, "Right.Lines[0].Points[1].X"},
		{"negative X", func(f *Figure) { f.Right.LogX, f.Right.Lines[0].Points[0].X = false, -5 }, ErrValue, "Right.Lines[0].Points[0].X"},
		{"NaN Y", func(f *Figure) { f.Right.Lines[1].Points[2].Y = math.NaN() }, ErrValue, "Right.Lines[1].Points[2].Y"},
		{"negative Y", func(f *Figure) { f.Right.Lines[0].Points[0].Y = -1 }, ErrValue, "Right.Lines[0].Points[0].Y"},
		{"infinite RefY", func(f *Figure) { f.Right.RefY = math.Inf(1) }, ErrValue, "Right.RefY"},
		{"negative RefY", func(f *Figure) { f.Right.RefY = -64 }, ErrValue, "Right.RefY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := figure()
			tt.change(&f)
			var buf bytes.Buffer
			err := Render(&buf, f)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Render: %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.field+":") {
				t.Errorf("Render: %q does not name %s", err, tt.field)
			}
			if buf.Len() != 0 {
				t.Errorf("Render wrote %d bytes with an error", buf.Len())
			}
		})
	}
}

func TestFormatSI(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{0.25, "0.25"},
		{12.5, "12.5"},
		{64, "64"},
		{950, "950"},
		{999.4, "999"},
		{999.6, "1k"},
		{1500, "1.5k"},
		{200_000, "200k"},
		{351_234, "351k"},
		{1_200_000, "1.2M"},
		{1_250_000, "1.25M"},
		{10_000_000, "10M"},
		{3e9, "3G"},
	}
	for _, tt := range tests {
		if got := formatSI(tt.v); got != tt.want {
			t.Errorf("formatSI(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		name      string
		most      float64
		step, top float64
	}{
		{"one", 1, 0.2, 1},
		{"nothing", 0, 0.2, 1},
		{"MiB", 64, 20, 80},
		{"docs/s", 410_000, 100_000, 500_000},
		{"twos", 700_000, 200_000, 800_000},
		{"two and a half", 1_100_000, 250_000, 1_250_000},
		{"fives", 2_300_000, 500_000, 2_500_000},
		{"exact", 1_000_000, 200_000, 1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, top := niceTicks(tt.most)
			if !near(step, tt.step) || !near(top, tt.top) {
				t.Errorf("niceTicks(%v) = %v, %v, want %v, %v", tt.most, step, top, tt.step, tt.top)
			}
		})
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		want   []string
	}{
		{"one decade", 100_000, 1_000_000, []string{"100k", "200k", "500k", "1M"}},
		{"one point", 300_000, 300_000, []string{"100k", "200k", "500k", "1M"}},
		{"four decades", 1_000, 9_000_000, []string{"1k", "10k", "100k", "1M", "10M"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range newXScale(tt.lo, tt.hi, true, 0, 100).ticks {
				got = append(got, formatSI(v))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("ticks %v, want %v", got, tt.want)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestLineReachesItsEnds(t *testing.T) {
	tests := []struct {
		name           string
		x0, y0, x1, y1 int
		dash           int
	}{
		{"point", 5, 5, 5, 5, 0},
		{"right", 2, 10, 40, 10, 0},
		{"left", 40, 10, 2, 10, 0},
		{"down", 10, 2, 10, 40, 0},
		{"up", 10, 40, 10, 2, 0},
		{"shallow", 2, 30, 45, 20, 0},
		{"steep", 40, 2, 30, 45, 0},
		{"dashed", 2, 20, 44, 20, 8},
	}
	c := palette[2]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := image.NewRGBA(image.Rect(0, 0, 50, 50))
			line(img, tt.x0, tt.y0, tt.x1, tt.y1, c, tt.dash)
			if img.RGBAAt(tt.x0, tt.y0) != c {
				t.Errorf("start (%d, %d) not drawn", tt.x0, tt.y0)
			}
			if tt.dash == 0 && img.RGBAAt(tt.x1, tt.y1) != c {
				t.Errorf("end (%d, %d) not drawn", tt.x1, tt.y1)
			}
			// 2 px thick: every step paints a 2×2 square.
			steps := max(abs(tt.x1-tt.x0), abs(tt.y1-tt.y0)) + 1
			n := count(img, img.Bounds(), c)
			switch {
			case tt.dash == 0 && n < 2*steps:
				t.Errorf("%d pixels, want at least %d for a 2 px line of %d steps", n, 2*steps, steps)
			case tt.dash > 0 && (n == 0 || n >= 2*steps):
				t.Errorf("%d pixels for a dashed line of %d steps, want some gaps", n, steps)
			}
		})
	}
}
