// Package runner is the daemon's job runner: it accepts export requests,
// keeps a bounded queue, runs at most MaxConcurrent exports at once through
// package export, reports progress events, resumes every unfinished export
// when it starts, and deletes finished exports after their retention.
//
// States move queued → running → completed | failed | cancelled; failed and
// cancelled exports can be resumed (back to queued). A shutdown is not a
// cancel: exports it stops stay running in the checkpoint and are resumed
// at the next start.
package runner
