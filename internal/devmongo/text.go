package devmongo

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The word lists below are part of the data set: reordering or editing them
// changes every task and fails the golden test.

var (
	titleVerbs = []string{
		"Fix", "Review", "Update", "Write", "Migrate", "Investigate", "Plan",
		"Document", "Refactor", "Test", "Deploy", "Clean up", "Design", "Prepare",
	}
	titleObjects = []string{
		"login timeout on mobile", "quarterly budget report", "invoice PDF export",
		"onboarding checklist", "search ranking", "billing webhooks",
		"release notes", "database backups", "password reset flow",
		"customer survey", "API rate limits", "dashboard charts",
		"support macros", "CI pipeline", "holiday schedule", "data retention policy",
	}
	titleSuffixes = []string{
		"", "", "", "", " for Q3", " (follow-up)", " before launch", " v2",
	}

	sentences = []string{
		"Reproduce the issue on staging and attach the logs.",
		"Coordinate with the platform team before the rollout.",
		"Numbers look off, double-check the totals, then update the sheet.",
		"Blocked until the vendor replies.",
		"Needs a short design review, ideally this week.",
		"See the linked ticket for context.",
		"Customer reported it twice, so treat it as important.",
		"Write the tests first, then refactor.",
		"Keep the old endpoint working until clients migrate.",
		"Ask finance which cost centre to use.",
		"Draft is in the shared folder.",
		"Check mobile, tablet and desktop layouts.",
	}
	// descriptionLeads start a description with a character that spreadsheets
	// read as a formula: = + - @, at least two for each.
	descriptionLeads = []string{
		"=SUM(A1:A10)",
		`=HYPERLINK("https://example.com/t","open")`,
		"=cmd|' /C calc'!A0",
		"+1 555 0100 asked for a callback.",
		"+20% on last quarter.",
		"-15% on the estimate, confirm with Dana.",
		"- follow up with legal",
		"@ops please take a look.",
		"@channel heads-up:",
	}
	// descriptionSeparators join sentences: mostly a space, sometimes a line
	// break (LF or CRLF), a blank line or a tab.
	descriptionSeparators = []string{
		" ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ",
		"\n", "\n", "\n", "\r\n", "\r\n", "\n\n", "\t", "\t",
	}
	descriptionQuotes = []string{
		`Customer wrote: "it just spins, forever".`,
		`Label says "Save" but should say "Submit".`,
		`Use the "fast path" only for admins.`,
		`He said ""maybe"" twice.`,
	}
	descriptionNonASCII = []string{
		"Café réunion à 10h, naïve façade.",
		"日本のチームと確認する。",
		"Ship it 🚀 when green ✅.",
		"Größe prüfen — Ünïcödé everywhere.",
		"Привет, команда!",
	}

	tagNames = []string{
		"backend", "frontend", "bug", "feature", "docs", "ops",
		"security", "ux", "customer", "infra", "q3", "tech-debt",
	}
	// tagCounts weights how many tags a task has: 0 to 4.
	tagCounts = []int{0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4}
	arrayKeys = []string{"0", "1", "2", "3"}

	assignees = []struct{ name, email string }{
		{"Alice Martin", "alice.martin@example.com"},
		{"José García", "jose.garcia@example.com"},
		{"Zoë Brontë", "zoe.bronte@example.org"},
		{"Renée Dubois", "renee.dubois@example.com"},
		{"Bob O'Neil", "bob.oneil@example.com"},
		{"Chen Wei", "chen.wei@example.org"},
		{"田中 花子", "hanako.tanaka@example.jp"},
		{"Priya Natarajan", "priya.natarajan@example.com"},
		{"Sam Lee", "sam.lee@example.com"},
		{"Olga Ivanova", "olga.ivanova@example.org"},
		{"Dana Schmidt", "dana.schmidt@example.com"},
		{"Kwame Mensah", "kwame.mensah@example.com"},
	}
)

// appendStringStart appends the header of a string element and a placeholder
// for its length; appendStringEnd finishes it. The value is appended between
// the two, without building a Go string.
func appendStringStart(dst []byte, key string) (int32, []byte) {
	return bsoncore.ReserveLength(bsoncore.AppendHeader(dst, bsoncore.TypeString, key))
}

func appendStringEnd(dst []byte, start int32) []byte {
	dst = append(dst, 0x00)
	return bsoncore.UpdateLength(dst, start, int32(len(dst))-start-4)
}

func appendTitle(dst []byte, r *rng) []byte {
	start, dst := appendStringStart(dst, FieldTitle)
	dst = append(dst, titleVerbs[r.intn(len(titleVerbs))]...)
	dst = append(dst, ' ')
	dst = append(dst, titleObjects[r.intn(len(titleObjects))]...)
	dst = append(dst, titleSuffixes[r.intn(len(titleSuffixes))]...)
	return appendStringEnd(dst, start)
}

func appendDescription(dst []byte, r *rng) []byte {
	start, dst := appendStringStart(dst, FieldDescription)
	if r.intn(50) == 0 { // about 2% are empty
		return appendStringEnd(dst, start)
	}
	if r.intn(10) == 0 {
		dst = append(dst, descriptionLeads[r.intn(len(descriptionLeads))]...)
		dst = append(dst, ' ')
	}
	for k := range 1 + r.intn(2) {
		if k > 0 {
			dst = append(dst, descriptionSeparators[r.intn(len(descriptionSeparators))]...)
		}
		dst = append(dst, sentences[r.intn(len(sentences))]...)
	}
	if r.intn(12) == 0 {
		dst = append(dst, ' ')
		dst = append(dst, descriptionQuotes[r.intn(len(descriptionQuotes))]...)
	}
	if r.intn(12) == 0 {
		dst = append(dst, ' ')
		dst = append(dst, descriptionNonASCII[r.intn(len(descriptionNonASCII))]...)
	}
	return appendStringEnd(dst, start)
}

func appendTags(dst []byte, r *rng) []byte {
	idx, dst := bsoncore.AppendArrayElementStart(dst, FieldTags)
	var used uint32
	for k := range tagCounts[r.intn(len(tagCounts))] {
		t := r.intn(len(tagNames))
		for used&(1<<t) != 0 { // take the next unused tag: tags are distinct
			t = (t + 1) % len(tagNames)
		}
		used |= 1 << t
		dst = bsoncore.AppendStringElement(dst, arrayKeys[k], tagNames[t])
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, idx) // cannot fail: idx comes from AppendArrayElementStart
	return dst
}

func appendAssignee(dst []byte, r *rng) []byte {
	a := assignees[r.intn(len(assignees))]
	idx, dst := bsoncore.AppendDocumentElementStart(dst, FieldAssignee)
	dst = bsoncore.AppendStringElement(dst, "name", a.name)
	dst = bsoncore.AppendStringElement(dst, "email", a.email)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx) // cannot fail: idx comes from AppendDocumentElementStart
	return dst
}
