package api

import (
	"fmt"
	"strings"
)

// State is where an export stands. Its JSON is the string.
type State string

// The states of an export: queued, then running, then one of the final
// ones. A failed or cancelled export may be queued again (resume).
const (
	StateQueued    State = "queued"
	StateRunning   State = "running"
	StateCompleted State = "completed"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// States lists every state, in the order an export meets them.
var States = []State{StateQueued, StateRunning, StateCompleted, StateFailed, StateCancelled}

// Final reports whether s is a state an export stays in unless resumed or
// deleted.
func (s State) Final() bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

// ParseState reads a state filter: empty means any state, anything else
// must be one of States.
func ParseState(s string) (State, error) {
	if s == "" {
		return "", nil
	}
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	names := make([]string, len(States))
	for i, st := range States {
		names[i] = string(st)
	}
	return "", fmt.Errorf("unknown state %q (%s)", Clip(s, 64), strings.Join(names, ", "))
}
