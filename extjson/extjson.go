package extjson

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// AppendDocument appends the Extended JSON text of doc to dst and returns the
// extended buffer. The text is byte-identical to
// bson.MarshalExtJSON(doc, canonical, false) of mongo-driver v2.10.0:
// canonical=false gives relaxed mode, canonical=true canonical mode. No
// newline is added.
//
// It reads doc once, front to back, without decoding it into Go values; it
// allocates nothing when dst has room for the output and the document nests
// no deeper than 32 levels (regex options that are unsorted or not ASCII are
// the one other exception).
//
// doc is accepted exactly when the driver accepts it: bytes after the
// document's declared length are ignored, as the driver ignores them, and
// the driver's leniencies listed in the package documentation are kept.
// Anything else returns an error wrapping ErrMalformed (a *MalformedError
// with the offset and key path) and dst truncated to its original length.
func AppendDocument(dst []byte, doc bson.Raw, canonical bool) ([]byte, error) {
	e := encoder{src: doc, dst: dst, canonical: canonical, topIsRoot: true, curStart: -1}
	if len(doc) < 4 {
		return dst, e.fail(0, "document is %d bytes, shorter than its 4-byte length", len(doc))
	}
	n := int32(binary.LittleEndian.Uint32(doc))
	if n < 5 {
		return dst, e.fail(0, "document length %d is less than the minimum of 5", n)
	}
	if int64(n) > int64(len(doc)) {
		return dst, e.fail(0, "document length %d exceeds the %d bytes available", n, len(doc))
	}
	e.dst = append(e.dst, '{')
	if err := e.run(frame{end: n - 1, kind: kindDocument, keyStart: -1}, 4); err != nil {
		return dst, err
	}
	return e.dst, nil
}

// AppendValue appends the Extended JSON text of one value to dst: exactly the
// text the driver writes for that value as the field of a document, that is
// bson.MarshalExtJSON(bson.D{{Key: "k", Value: v}}, canonical, false) without
// the surrounding {"k": and }. Like the driver, it ignores bytes in v.Value
// after the end of the value, and it reads old binary (subtype 0x02) by its
// inner length alone, as for a nested element. Errors are as for
// AppendDocument, with offsets into v.Value.
func AppendValue(dst []byte, v bson.RawValue, canonical bool) ([]byte, error) {
	e := encoder{src: v.Value, dst: dst, canonical: canonical, curStart: -1}
	next, err := e.value(byte(v.Type), 0, len(v.Value), false)
	if err == nil && e.opened {
		e.opened = false
		err = e.run(e.child, next)
	}
	if err != nil {
		return dst, err
	}
	return e.dst, nil
}

// inlineDepth is how many nested containers fit in the stack array that
// AppendDocument keeps on its own goroutine stack; deeper documents grow
// the stack on the heap.
const inlineDepth = 32

type kind uint8

const (
	kindDocument kind = iota
	kindArray
	kindScope // the $scope document of a code-with-scope value
)

// frame is one open container.
type frame struct {
	end  int32 // offset of the container's terminating 0x00 byte
	kind kind
	// keyStart and keyEnd delimit, in src, the key of the element holding
	// the container; keyStart is -1 for the outermost one. Only errors use
	// them. BSON lengths are int32, so every offset fits.
	keyStart, keyEnd int32
}

// encoder holds the state of one AppendDocument or AppendValue call. It lives
// on the caller's stack.
type encoder struct {
	src       []byte
	dst       []byte
	canonical bool
	// topIsRoot says the outermost frame is the document given to
	// AppendDocument, whose direct elements the driver reads from slices cut
	// to their declared lengths (see value).
	topIsRoot bool
	// opened says value has just written the opening of a container and
	// described it in child, for run to push.
	opened bool
	child  frame
	// curStart and curEnd delimit the key of the element being read, for
	// errors; curStart is -1 when there is none.
	curStart, curEnd int
}

// run writes elements until the container root, which starts before pos,
// is closed. pos is the offset of root's first element (or terminator).
//
// Every container's elements must lie before its terminator, so every read
// is bounded by the innermost frame's end. The driver bounds its reads only
// by the enclosing top-level element, but anything that crosses a nested
// container's end makes that container's terminator check fail later, so
// both accept the same inputs.
func (e *encoder) run(root frame, pos int) error {
	// The stack of open containers, innermost last, starts in an array on
	// this goroutine's stack.
	var inline [inlineDepth]frame
	stack := append(inline[:0], root)
	src := e.src
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		end := int(f.end)
		if pos == end {
			if src[pos] != 0 {
				e.curStart = -1
				return withPath(e.fail(pos, "expected the terminating 0x00 of a %s, found 0x%02x", f.kind, src[pos]), src, stack)
			}
			pos++
			k := f.kind
			stack = stack[:len(stack)-1]
			d := e.dst
			closer := byte('}')
			if k == kindArray {
				closer = ']'
			}
			// Every element is followed by a comma; the last one becomes
			// the closing bracket, as in the driver.
			if d[len(d)-1] == ',' {
				d[len(d)-1] = closer
			} else {
				d = append(d, closer)
			}
			if k == kindScope {
				d = append(d, '}')
			}
			if len(stack) > 0 {
				d = append(d, ',')
			}
			e.dst = d
			continue
		}
		t := src[pos]
		if t == 0 {
			e.curStart = -1
			return withPath(e.fail(pos, "%s ends at offset %d but its length says it ends at %d", f.kind, pos, end), src, stack)
		}
		// Find the key's NUL and, in the same pass, whether the key needs
		// escaping; keys are short and almost always plain.
		ks := pos + 1
		ke, escape := ks, false
		for ke < end && src[ke] != 0 {
			escape = escape || !plain[src[ke]]
			ke++
		}
		if ke == end {
			e.curStart = -1
			return withPath(e.fail(ks, "element key is not terminated before the end of its %s", f.kind), src, stack)
		}
		e.curStart, e.curEnd = ks, ke
		if f.kind != kindArray {
			if escape {
				e.dst = appendString(e.dst, src[ks:ke])
				e.dst = append(e.dst, ':')
			} else {
				e.dst = append(e.dst, '"')
				e.dst = append(e.dst, src[ks:ke]...)
				e.dst = append(e.dst, '"', ':')
			}
		}
		next, err := e.value(t, ke+1, end, len(stack) == 1 && e.topIsRoot)
		if err != nil {
			return withPath(err, src, stack)
		}
		if e.opened {
			// Containers get their comma when they close.
			e.opened = false
			stack = append(stack, e.child)
		} else {
			e.dst = append(e.dst, ',')
		}
		pos = next
	}
	return nil
}

// value writes the value of type t that starts at pos and must end by limit.
// Scalars are written whole; for containers the opening is written and the
// container described in e.child for run to push. It returns the offset after what it read.
//
// sliced is true for the direct elements of the document given to
// AppendDocument. The driver reads those from a slice cut to the length the
// value declares and ignores whatever it did not read of that slice; that
// matters only for old binary (subtype 0x02), see binary.
func (e *encoder) value(t byte, pos, limit int, sliced bool) (int, error) {
	src := e.src
	switch bson.Type(t) {
	case bson.TypeDouble:
		if limit-pos < 8 {
			return 0, e.short(pos, limit, "double", 8)
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(src[pos:]))
		e.dst = appendDouble(e.dst, f, e.canonical)
		return pos + 8, nil

	case bson.TypeString:
		s, next, err := e.str(pos, limit, "string")
		if err != nil {
			return 0, err
		}
		e.dst = appendString(e.dst, s)
		return next, nil

	case bson.TypeEmbeddedDocument, bson.TypeArray:
		k, open := kindDocument, byte('{')
		if bson.Type(t) == bson.TypeArray {
			k, open = kindArray, '['
		}
		end, err := e.container(pos, limit, k)
		if err != nil {
			return 0, err
		}
		e.dst = append(e.dst, open)
		e.push(end, k)
		return pos + 4, nil

	case bson.TypeBinary:
		return e.binary(pos, limit, sliced)

	case bson.TypeUndefined:
		e.dst = append(e.dst, `{"$undefined":true}`...)
		return pos, nil

	case bson.TypeObjectID:
		if limit-pos < 12 {
			return 0, e.short(pos, limit, "ObjectId", 12)
		}
		e.dst = appendObjectID(e.dst, src[pos:pos+12])
		return pos + 12, nil

	case bson.TypeBoolean:
		if limit-pos < 1 {
			return 0, e.short(pos, limit, "boolean", 1)
		}
		switch src[pos] {
		case 0:
			e.dst = append(e.dst, "false"...)
		case 1:
			e.dst = append(e.dst, "true"...)
		default:
			return 0, e.fail(pos, "boolean byte is 0x%02x, not 0x00 or 0x01", src[pos])
		}
		return pos + 1, nil

	case bson.TypeDateTime:
		if limit-pos < 8 {
			return 0, e.short(pos, limit, "datetime", 8)
		}
		e.dst = appendDateTime(e.dst, int64(binary.LittleEndian.Uint64(src[pos:])), e.canonical)
		return pos + 8, nil

	case bson.TypeNull:
		e.dst = append(e.dst, "null"...)
		return pos, nil

	case bson.TypeRegex:
		pl := bytes.IndexByte(src[pos:limit], 0)
		if pl < 0 {
			return 0, e.fail(pos, "regex pattern is not terminated")
		}
		opos := pos + pl + 1
		ol := bytes.IndexByte(src[opos:limit], 0)
		if ol < 0 {
			return 0, e.fail(opos, "regex options are not terminated")
		}
		e.dst = appendRegex(e.dst, src[pos:pos+pl], src[opos:opos+ol])
		return opos + ol + 1, nil

	case bson.TypeDBPointer:
		ns, next, err := e.str(pos, limit, "DBPointer namespace")
		if err != nil {
			return 0, err
		}
		if limit-next < 12 {
			return 0, e.short(next, limit, "DBPointer ObjectId", 12)
		}
		// The driver writes the namespace without escaping it.
		d := append(e.dst, `{"$dbPointer":{"$ref":"`...)
		d = append(d, ns...)
		d = append(d, `","$id":`...)
		d = appendObjectID(d, src[next:next+12])
		e.dst = append(d, '}', '}')
		return next + 12, nil

	case bson.TypeJavaScript:
		s, next, err := e.str(pos, limit, "JavaScript code")
		if err != nil {
			return 0, err
		}
		e.dst = append(e.dst, `{"$code":`...)
		e.dst = appendString(e.dst, s)
		e.dst = append(e.dst, '}')
		return next, nil

	case bson.TypeSymbol:
		s, next, err := e.str(pos, limit, "symbol")
		if err != nil {
			return 0, err
		}
		e.dst = append(e.dst, `{"$symbol":`...)
		e.dst = appendString(e.dst, s)
		e.dst = append(e.dst, '}')
		return next, nil

	case bson.TypeCodeWithScope:
		return e.codeWithScope(pos, limit)

	case bson.TypeInt32:
		if limit-pos < 4 {
			return 0, e.short(pos, limit, "int32", 4)
		}
		v := int32(binary.LittleEndian.Uint32(src[pos:]))
		e.dst = appendInt(e.dst, int64(v), e.canonical, "$numberInt")
		return pos + 4, nil

	case bson.TypeTimestamp:
		if limit-pos < 8 {
			return 0, e.short(pos, limit, "timestamp", 8)
		}
		e.dst = appendTimestamp(e.dst, binary.LittleEndian.Uint64(src[pos:]))
		return pos + 8, nil

	case bson.TypeInt64:
		if limit-pos < 8 {
			return 0, e.short(pos, limit, "int64", 8)
		}
		v := int64(binary.LittleEndian.Uint64(src[pos:]))
		e.dst = appendInt(e.dst, v, e.canonical, "$numberLong")
		return pos + 8, nil

	case bson.TypeDecimal128:
		if limit-pos < 16 {
			return 0, e.short(pos, limit, "decimal128", 16)
		}
		lo := binary.LittleEndian.Uint64(src[pos:])
		hi := binary.LittleEndian.Uint64(src[pos+8:])
		e.dst = appendDecimal128(e.dst, lo, hi)
		return pos + 16, nil

	case bson.TypeMinKey:
		e.dst = append(e.dst, `{"$minKey":1}`...)
		return pos, nil

	case bson.TypeMaxKey:
		e.dst = append(e.dst, `{"$maxKey":1}`...)
		return pos, nil
	}
	return 0, e.fail(pos-e.keyOffset(), "unknown BSON type 0x%02x", t)
}

// str reads a length-prefixed, NUL-terminated string at pos, as the driver
// does: the length counts the NUL and must be at least 1, the last byte must
// be 0x00, and NULs inside the string are allowed.
func (e *encoder) str(pos, limit int, what string) (s []byte, next int, err error) {
	if limit-pos < 4 {
		return nil, 0, e.short(pos, limit, what+" length", 4)
	}
	n := int32(binary.LittleEndian.Uint32(e.src[pos:]))
	if n <= 0 {
		return nil, 0, e.fail(pos, "%s length %d is not positive", what, n)
	}
	if int64(n) > int64(limit-pos-4) {
		return nil, 0, e.short(pos+4, limit, what, int(n))
	}
	end := pos + 4 + int(n)
	if e.src[end-1] != 0 {
		return nil, 0, e.fail(end-1, "%s does not end with 0x00", what)
	}
	return e.src[pos+4 : end-1], end, nil
}

// container checks the length prefix of an embedded document, array or scope
// at pos and returns the offset of its terminator.
func (e *encoder) container(pos, limit int, k kind) (end int, err error) {
	if limit-pos < 4 {
		return 0, e.short(pos, limit, k.String()+" length", 4)
	}
	n := int32(binary.LittleEndian.Uint32(e.src[pos:]))
	if n < 5 {
		return 0, e.fail(pos, "%s length %d is less than the minimum of 5", k, n)
	}
	if int64(n) > int64(limit-pos) {
		return 0, e.short(pos, limit, k.String(), int(n))
	}
	return pos + int(n) - 1, nil
}

func (e *encoder) push(end int, k kind) {
	e.opened = true
	e.child = frame{end: int32(end), kind: k, keyStart: int32(e.curStart), keyEnd: int32(e.curEnd)}
}

// binary reads a binary value the way the driver does. For old binary
// (subtype 0x02) with a length above 4, the driver reads a second, inner
// length after the subtype and writes that many bytes:
//
//   - for a sliced element (see value) the outer length still says where
//     the value ends, and the inner bytes must fit inside it;
//   - otherwise the value ends after the inner bytes, whatever the outer
//     length says.
//
// Well-formed old binary has inner = outer-4, for which both rules agree.
func (e *encoder) binary(pos, limit int, sliced bool) (int, error) {
	src := e.src
	if limit-pos < 5 {
		return 0, e.short(pos, limit, "binary header", 5)
	}
	n := int32(binary.LittleEndian.Uint32(src[pos:]))
	sub := src[pos+4]
	if n < 0 {
		return 0, e.fail(pos, "binary length %d is negative", n)
	}
	if sliced && int64(n) > int64(limit-pos-5) {
		return 0, e.short(pos+5, limit, "binary data", int(n))
	}
	start, size, next := pos+5, int(n), pos+5+int(n)
	if sub == 0x02 && n > 4 {
		if limit-pos < 9 {
			return 0, e.short(pos+5, limit, "old binary inner length", 4)
		}
		inner := int32(binary.LittleEndian.Uint32(src[pos+5:]))
		if inner < 0 {
			return 0, e.fail(pos+5, "old binary inner length %d is negative", inner)
		}
		avail := limit - pos - 9
		if sliced {
			avail = int(n) - 4
		}
		if int64(inner) > int64(avail) {
			return 0, e.short(pos+9, pos+9+avail, "old binary data", int(inner))
		}
		start, size = pos+9, int(inner)
		if !sliced {
			next = start + size
		}
	} else if int64(n) > int64(limit-pos-5) {
		return 0, e.short(pos+5, limit, "binary data", int(n))
	}
	e.dst = appendBinary(e.dst, src[start:start+size], sub)
	return next, nil
}

// codeWithScope reads a code-with-scope value: total length, code string,
// scope document, where total = 4 + 4 + code length + scope length, and
// opens the scope. Like the driver, it drops the code's last byte without
// checking that it is 0x00.
func (e *encoder) codeWithScope(pos, limit int) (int, error) {
	src := e.src
	if limit-pos < 8 {
		return 0, e.short(pos, limit, "code with scope header", 8)
	}
	total := int32(binary.LittleEndian.Uint32(src[pos:]))
	n := int32(binary.LittleEndian.Uint32(src[pos+4:]))
	if n <= 0 {
		return 0, e.fail(pos+4, "code with scope: code length %d is not positive", n)
	}
	if int64(n) > int64(limit-pos-8) {
		return 0, e.short(pos+8, limit, "code with scope: code", int(n))
	}
	code := src[pos+8 : pos+8+int(n)-1]
	scope := pos + 8 + int(n)
	if limit-scope < 4 {
		return 0, e.short(scope, limit, "code with scope: scope length", 4)
	}
	size := int32(binary.LittleEndian.Uint32(src[scope:]))
	if sum := 8 + int64(n) + int64(size); int64(total) != sum {
		return 0, e.fail(pos, "code with scope length %d does not match its parts (%d)", total, sum)
	}
	end, err := e.container(scope, limit, kindScope)
	if err != nil {
		return 0, err
	}
	e.dst = append(e.dst, `{"$code":`...)
	e.dst = appendString(e.dst, code)
	e.dst = append(e.dst, `,"$scope":{`...)
	e.push(end, kindScope)
	return scope + 4, nil
}

func (k kind) String() string {
	switch k {
	case kindArray:
		return "array"
	case kindScope:
		return "scope document"
	default:
		return "document"
	}
}

// keyOffset is the distance from the type byte of the current element to its
// value, so that type errors point at the type byte.
func (e *encoder) keyOffset() int {
	if e.curStart < 0 {
		return 0
	}
	return e.curEnd + 1 - (e.curStart - 1)
}

func (e *encoder) short(pos, limit int, what string, need int) error {
	return e.fail(pos, "%s needs %d bytes, only %d left", what, need, limit-pos)
}

// fail builds the *MalformedError for a problem at offset pos in the current
// element; run adds the path of the enclosing containers. It runs only on the
// error path.
func (e *encoder) fail(pos int, format string, args ...any) error {
	var key string
	if e.curStart >= 0 {
		key = string(e.src[e.curStart:e.curEnd])
	}
	return &MalformedError{Offset: pos, Path: key, Reason: fmt.Sprintf(format, args...)}
}

// withPath prefixes the path of err, a *MalformedError from fail, with the
// keys of the open containers.
func withPath(err error, src []byte, stack []frame) error {
	me, ok := err.(*MalformedError)
	if !ok {
		return err
	}
	var path []byte
	for _, f := range stack {
		if f.keyStart >= 0 {
			path = append(append(path, src[f.keyStart:f.keyEnd]...), '.')
		}
	}
	if me.Path != "" {
		path = append(path, me.Path...)
	} else if len(path) > 0 {
		path = path[:len(path)-1]
	}
	me.Path = string(path)
	return me
}
