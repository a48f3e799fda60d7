// exportSocket lets a front end written for the old service's WebSocket
// events (socket.on('export-processing', handler), ...) take them from
// exportd's server-sent events: the same names, one JSON body each.
// eventsUrl is the eventsUrl of POST /exports's reply (signed when the
// daemon has a download secret, so an EventSource needs no header).
function exportSocket(eventsUrl) {
  const es = new EventSource(eventsUrl); // reconnects with Last-Event-ID by itself
  for (const end of ['export-completed', 'export-failed', 'export-cancelled']) {
    es.addEventListener(end, () => es.close()); // the stream ends there: do not reconnect
  }
  return {
    on(name, handler) {
      es.addEventListener(name, (e) => {
        const ev = JSON.parse(e.data);
        handler({ ...ev, recordCount: ev.records }); // the old handlers' name for the count
      });
      return this;
    },
    close() { es.close(); },
  };
}
