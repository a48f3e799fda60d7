package plot

import "errors"

// ErrEmpty is wrapped by Render's error when a chart has nothing to draw:
// no groups, no series, no value that is not NaN, no lines, or a line
// without points.
var ErrEmpty = errors.New("nothing to draw")

// ErrShape is wrapped by Render's error when lengths disagree: a Values
// row per series and a value per group, and no more series than the
// palette has colours.
var ErrShape = errors.New("inconsistent shape")

// ErrValue is wrapped by Render's error for a number that cannot be
// drawn: negative, infinite, NaN outside Bars.Values, or an X that is not
// positive on a log axis.
var ErrValue = errors.New("value out of range")
