package progress

// Forget makes the Publisher ask its history again before the next event
// of export id, as for an export it never published: in a cluster another
// node may have published events of it since this one last did (the export
// moved to that node and back, or was cancelled or resumed there). An
// export whose events still wait to go is kept as it is: those events are
// this Publisher's own, numbered from what it knows. Without a history,
// Forget does nothing.
func (p *Publisher) Forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.history == nil {
		return
	}
	if q := p.exports[id]; q != nil && !q.active && !q.looking {
		delete(p.exports, id)
	}
}
