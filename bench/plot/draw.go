package plot

import (
	"image"
	"image/color"
	"image/draw"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// palette colours the series in order: distinguishable from each other and
// from the black, greys and white of text, axes and grid.
var palette = []color.RGBA{
	{0x4e, 0x79, 0xa7, 0xff}, // blue
	{0xf2, 0x8e, 0x2b, 0xff}, // orange
	{0xe1, 0x57, 0x59, 0xff}, // red
	{0x59, 0xa1, 0x4f, 0xff}, // green
	{0xb0, 0x7a, 0xa1, 0xff}, // purple
	{0x76, 0xb7, 0xb2, 0xff}, // teal
	{0x9c, 0x75, 0x5f, 0xff}, // brown
	{0xff, 0x9d, 0xa7, 0xff}, // pink
}

var (
	black    = color.RGBA{0x00, 0x00, 0x00, 0xff}
	darkGrey = color.RGBA{0x44, 0x44, 0x44, 0xff}
	gridGrey = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
)

// face is the only font: 7 px per character, 13 px per line.
var face = basicfont.Face7x13

// align places a text relative to its x coordinate.
type align int

const (
	alignLeft align = iota
	alignCenter
	alignRight
)

// fillRect paints r, clipped to dst.
func fillRect(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(dst, r, &image.Uniform{c}, image.Point{}, draw.Src)
}

// dot paints a 2×2 square at (x, y): the pen of every line.
func dot(dst *image.RGBA, x, y int, c color.RGBA) {
	fillRect(dst, image.Rect(x, y, x+2, y+2), c)
}

// line draws a 2 px line from (x0, y0) to (x1, y1) with Bresenham's
// algorithm. When dash > 0 it draws dash steps and leaves dash/2 out.
func line(dst *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, dash int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for step := 0; ; step++ {
		if dash == 0 || step%(dash+dash/2) < dash {
			dot(dst, x0, y0, c)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// disc paints a filled circle of radius r centred on (cx, cy).
func disc(dst *image.RGBA, cx, cy, r int, c color.RGBA) {
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			if x*x+y*y <= r*r+r {
				dst.SetRGBA(cx+x, cy+y, c)
			}
		}
	}
}

// printable maps s onto the font's ASCII: × becomes x, dashes become -,
// and any other rune outside ASCII becomes ?.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= ' ' && r <= '~':
			return r
		case r == '×':
			return 'x'
		case r == '–' || r == '—' || r == '−':
			return '-'
		}
		return '?'
	}, s)
}

// textWidth is the width in pixels of s drawn at scale.
func textWidth(s string, scale int) int {
	return len(printable(s)) * face.Advance * scale
}

// text draws s with its top at y, each font pixel scale×scale pixels.
func text(dst *image.RGBA, x, y int, s string, c color.RGBA, scale int, a align) {
	s = printable(s)
	w := textWidth(s, 1)
	if w == 0 {
		return
	}
	switch a {
	case alignCenter:
		x -= w * scale / 2
	case alignRight:
		x -= w * scale
	}
	mask := image.NewAlpha(image.Rect(0, 0, w, face.Height))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(0, face.Ascent)}
	d.DrawString(s)
	for my := range face.Height {
		for mx := range w {
			if mask.AlphaAt(mx, my).A != 0 {
				fillRect(dst, image.Rect(x+mx*scale, y+my*scale, x+(mx+1)*scale, y+(my+1)*scale), c)
			}
		}
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
