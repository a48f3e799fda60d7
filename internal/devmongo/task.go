package devmongo

import (
	"encoding/binary"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Task field names, in the order AppendTask writes them.
const (
	FieldID             = "_id"
	FieldTitle          = "title"
	FieldDescription    = "description"
	FieldStatus         = "status"
	FieldPriority       = "priority"
	FieldTags           = "tags"
	FieldAssignee       = "assignee"
	FieldCreatedAt      = "createdAt"
	FieldUpdatedAt      = "updatedAt"
	FieldDueDate        = "dueDate"
	FieldCompletedAt    = "completedAt"
	FieldEstimatedHours = "estimatedHours"
	FieldSeq            = "seq"
)

// Task statuses. A task has completedAt if and only if its status is
// StatusCompleted; other tasks have completedAt null or no completedAt.
const (
	StatusTodo       = "todo"
	StatusInProgress = "in-progress"
	StatusCompleted  = "completed"
	StatusCancelled  = "cancelled"
)

// CreatedFrom and CreatedUntil bound every task's createdAt:
// CreatedFrom <= createdAt < CreatedUntil.
var (
	CreatedFrom  = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	CreatedUntil = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

const (
	msHour = int64(time.Hour / time.Millisecond)
	msDay  = 24 * msHour
)

// Task returns the BSON document of task number i. It is AppendTask(nil, i).
func Task(i int64) bson.Raw {
	return bson.Raw(AppendTask(nil, i))
}

// Tasks returns the BSON documents of tasks 0 to n-1, in order.
func Tasks(n int) []bson.Raw {
	docs := make([]bson.Raw, n)
	for i := range docs {
		docs[i] = Task(int64(i))
	}
	return docs
}

// TaskID returns the _id of task number i without encoding the whole task.
// It is unique for every i.
func TaskID(i int64) bson.ObjectID {
	r := newRNG(i)
	return taskID(i, r.createdAt())
}

// AppendTask appends the BSON document of task number i to dst and returns the
// extended buffer. The bytes depend only on i: every process on every machine
// generates the same document for the same i, and tasks can be generated in any
// order. The fields, in this order, are:
//
//	_id            ObjectID: seconds of createdAt, then i as 8 big-endian bytes
//	title          string
//	description    string; may be empty, may hold commas, quotes, LF, CRLF,
//	               tabs and non-ASCII text, may start with = + - or @
//	status         "todo", "in-progress", "completed" or "cancelled"
//	priority       "low", "medium", "high" or "urgent"
//	tags           array of 0 to 4 distinct strings
//	assignee       document {name string, email string}
//	createdAt      date in [CreatedFrom, CreatedUntil), with milliseconds
//	updatedAt      date >= createdAt
//	dueDate        date at midnight UTC after createdAt; missing in about 1 in 4
//	completedAt    date in [createdAt, updatedAt] if status is "completed";
//	               otherwise null in about 2 in 5 and missing in the rest
//	estimatedHours double > 0, often fractional, sometimes whole
//	seq            int64 i
func AppendTask(dst []byte, i int64) []byte {
	r := newRNG(i)
	created := r.createdAt()

	status := pick(&r, statusWeights)
	priority := pick(&r, priorityWeights)

	var updated, completed int64
	if status == StatusCompleted {
		completed = created + msHour + r.int63n(30*msDay)
		updated = completed + r.int63n(2*msDay)
	} else {
		updated = created
		if r.intn(100) >= 15 {
			updated += 1 + r.int63n(60*msDay)
		}
	}
	completedNull := status != StatusCompleted && r.intn(5) < 2

	hasDue := r.intn(4) != 0
	due := (created/msDay + 1 + r.int63n(45)) * msDay

	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendObjectIDElement(dst, FieldID, taskID(i, created))
	dst = appendTitle(dst, &r)
	dst = appendDescription(dst, &r)
	dst = bsoncore.AppendStringElement(dst, FieldStatus, status)
	dst = bsoncore.AppendStringElement(dst, FieldPriority, priority)
	dst = appendTags(dst, &r)
	dst = appendAssignee(dst, &r)
	dst = bsoncore.AppendDateTimeElement(dst, FieldCreatedAt, created)
	dst = bsoncore.AppendDateTimeElement(dst, FieldUpdatedAt, updated)
	if hasDue {
		dst = bsoncore.AppendDateTimeElement(dst, FieldDueDate, due)
	}
	switch {
	case status == StatusCompleted:
		dst = bsoncore.AppendDateTimeElement(dst, FieldCompletedAt, completed)
	case completedNull:
		dst = bsoncore.AppendNullElement(dst, FieldCompletedAt)
	}
	dst = bsoncore.AppendDoubleElement(dst, FieldEstimatedHours, estimatedHours(&r))
	dst = bsoncore.AppendInt64Element(dst, FieldSeq, i)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx) // cannot fail: idx comes from AppendDocumentStart
	return dst
}

// taskID builds the ObjectID of task i created at createdMs.
func taskID(i, createdMs int64) bson.ObjectID {
	var id bson.ObjectID
	binary.BigEndian.PutUint32(id[0:4], uint32(createdMs/1000))
	binary.BigEndian.PutUint64(id[4:12], uint64(i))
	return id
}

// rng is splitmix64: a tiny, fast generator whose whole state is one word, so
// that every task gets its own stream derived from its number.
type rng struct{ s uint64 }

// newRNG returns the stream of task i.
func newRNG(i int64) rng {
	r := rng{s: uint64(i) ^ 0x6a09e667f3bcc909}
	r.next() // decorrelate neighbouring seeds before the first real draw
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n). The modulo bias is negligible for the small
// n used here and, above all, the same on every machine.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *rng) int63n(n int64) int64 { return int64(r.next() % uint64(n)) }

// createdAt is always the first draw of a task's stream, so TaskID can replay it.
func (r *rng) createdAt() int64 {
	from, until := CreatedFrom.UnixMilli(), CreatedUntil.UnixMilli()
	return from + r.int63n(until-from)
}

type weighted struct {
	value  string
	weight int
}

var (
	statusWeights = []weighted{
		{StatusTodo, 30}, {StatusInProgress, 25}, {StatusCompleted, 35}, {StatusCancelled, 10},
	}
	priorityWeights = []weighted{
		{"low", 25}, {"medium", 40}, {"high", 25}, {"urgent", 10},
	}
)

// pick draws one value with the given weights, which must add up to 100.
func pick(r *rng, ws []weighted) string {
	n := r.intn(100)
	for _, w := range ws {
		if n < w.weight {
			return w.value
		}
		n -= w.weight
	}
	return ws[len(ws)-1].value
}

func estimatedHours(r *rng) float64 {
	switch n := r.intn(100); {
	case n < 50: // quarters: 0.25 to 20, whole one time in four
		return float64(1+r.intn(80)) / 4
	case n < 85: // tenths: 0.5 to 39.9, mostly not exactly representable
		return float64(5+r.intn(395)) / 10
	default: // whole hours
		return float64(1 + r.intn(40))
	}
}
