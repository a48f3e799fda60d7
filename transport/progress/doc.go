// Package progress publishes export progress events on
// <prefix>.progress.<exportId> without ever blocking the export: events
// wait in a bounded queue per export and go out in order, with a seq that
// increases by one per export (across restarts and takeovers when a
// History keeps the events), export-processing ones rate limited and
// coalesced. Publisher's comment lists the guarantees.
package progress
