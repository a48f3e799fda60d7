// exportd console: served as it is, no framework, no build step.
//
// The page asks for the API token once and keeps it in sessionStorage (this
// tab only); every request sends it as "Authorization: Bearer". Progress
// comes from GET /events, read with fetch() so that it can carry that
// header too (an EventSource cannot), and parsed here as server-sent
// events; a reconnect sends Last-Event-ID and gets what it missed.
'use strict';

const TOKEN_KEY = 'exportd.apiToken';
const $ = (id) => document.getElementById(id);

const page = {
  token: null, // '' once the user chose read-only
  exports: new Map(), // id -> export view
  stream: null, // AbortController of the event stream
  pendingRequestId: null, // kept until the daemon answers, so a retry is the same export
};

// The export's state after each event.
const STATE_OF = {
  'export-queued': 'queued',
  'export-resumed': 'running',
  'export-fetching': 'running',
  'export-processing': 'running',
  'export-file-generation': 'running',
  'export-finalizing': 'running',
  'export-completed': 'completed',
  'export-failed': 'failed',
  'export-cancelled': 'cancelled',
};

// ---- requests ----

function authHeaders(extra) {
  const h = Object.assign({}, extra);
  if (page.token) h.Authorization = 'Bearer ' + page.token;
  return h;
}

// api sends one request and returns its JSON; a refusal throws an Error
// with the daemon's status, message and field.
async function api(method, path, body) {
  const init = { method, headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (_) { /* no JSON body */ }
  if (!resp.ok) {
    const detail = (data && data.error) || {};
    const err = new Error(detail.message || 'HTTP ' + resp.status);
    err.status = resp.status;
    err.field = detail.field || '';
    throw err;
  }
  return data;
}

// ---- the token ----

function showTokenForm(message) {
  stopStream();
  $('console').hidden = true;
  $('forget').hidden = true;
  $('token-section').hidden = false;
  $('token-error').textContent = message || '';
  $('token').setAttribute('aria-invalid', message ? 'true' : 'false');
  $('token').focus();
}

function useToken(token) {
  page.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('token-section').hidden = true;
  $('console').hidden = false;
  $('forget').hidden = !token;
  startStream();
}

// ---- server-sent events over fetch ----

function setConn(state, text) {
  const el = $('conn');
  el.dataset.state = state;
  el.textContent = text;
}

function stopStream() {
  if (page.stream) page.stream.abort();
  page.stream = null;
}

function startStream() {
  stopStream();
  const ctl = new AbortController();
  page.stream = ctl;
  follow(ctl.signal);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// follow reads GET /events until signal aborts, reconnecting with
// Last-Event-ID after any break.
async function follow(signal) {
  let lastId = null;
  let delay = 500;
  while (!signal.aborted) {
    try {
      const headers = authHeaders({ Accept: 'text/event-stream' });
      if (lastId !== null) headers['Last-Event-ID'] = lastId;
      const resp = await fetch('/events', { headers, signal, cache: 'no-store' });
      if (resp.status === 401 || resp.status === 403) {
        const body = await resp.json().catch(() => ({}));
        showTokenForm('The daemon refused: ' + ((body.error && body.error.message) || resp.status));
        return;
      }
      if (!resp.ok || !resp.body) throw new Error('HTTP ' + resp.status);
      setConn('live', 'live');
      delay = 500;
      await readEvents(resp.body, (msg) => {
        if (msg.id !== null) lastId = msg.id;
        onEvent(msg.event, msg.data);
      });
    } catch (_) {
      if (signal.aborted) return;
    }
    setConn('down', 'reconnecting…');
    await sleep(delay);
    delay = Math.min(delay * 2, 10000);
  }
}

// readEvents parses a text/event-stream body (the HTML standard's rules:
// fields per line, an empty line ends an event, ':' starts a comment) and
// calls dispatch with {id, event, data} for each event.
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let data = [];
  let event = '';
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (data.length > 0) dispatch({ id, event: event || 'message', data: data.join('\n') });
        data = [];
        event = '';
        id = null;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'data') data.push(val);
      else if (field === 'event') event = val;
      else if (field === 'id') id = val;
    }
  }
}

function onEvent(name, data) {
  let ev;
  try { ev = JSON.parse(data); } catch (_) { return; }
  if (!ev || !ev.exportId) return;
  const x = view(ev.exportId);
  x.state = STATE_OF[name] || x.state;
  x.records = ev.records;
  x.chunks = ev.chunks;
  x.rate = ev.rate;
  x.total = ev.total;
  x.percent = ev.percent;
  x.error = ev.error || '';
  render(x);
  if (name === 'export-completed') loadLinks(x);
  else if (name === 'export-file-generation' && x.details.open) scheduleLinks(x);
}

// ---- the list ----

// view returns the export's entry in the list, made on first sight.
function view(id) {
  let x = page.exports.get(id);
  if (x) return x;
  const el = $('export-item').content.firstElementChild.cloneNode(true);
  el.id = 'x-' + id;
  el.dataset.id = id;
  const q = (sel) => el.querySelector(sel);
  x = {
    id, el, state: 'queued', records: 0, chunks: 0, rate: 0, total: null, percent: null, error: '',
    bar: q('progress'), details: q('details'), errorEl: q('.error'), linksTimer: null,
    buttons: { cancel: q('.cancel'), resume: q('.resume'), delete: q('.delete') },
  };
  q('.id').textContent = id;
  for (const [what, btn] of Object.entries(x.buttons)) {
    btn.setAttribute('aria-label', btn.textContent + ' export ' + id);
    btn.addEventListener('click', () => act(x, what));
  }
  x.details.addEventListener('toggle', () => { if (x.details.open) loadLinks(x); });
  page.exports.set(id, x);
  $('exports').prepend(el);
  $('empty').hidden = true;
  render(x);
  return x;
}

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');

function fmtBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

function fmtDuration(s) {
  if (!isFinite(s) || s < 0) return '–';
  if (s < 60) return Math.ceil(s) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.ceil(s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
}

function render(x) {
  const q = (sel) => x.el.querySelector(sel);
  const running = x.state === 'running';
  x.el.dataset.state = x.state;
  x.el.dataset.records = String(x.records);
  q('.state').textContent = x.state;
  q('.records').textContent = fmtInt(x.records);
  q('.nchunks').textContent = fmtInt(x.chunks);
  q('.rate').textContent = running && x.rate > 0 ? fmtInt(x.rate) + '/s' : '–';
  q('.eta').textContent = running && x.total != null && x.rate > 0 ? fmtDuration((x.total - x.records) / x.rate) : '–';
  let pct = '';
  if (x.state === 'completed') {
    x.bar.value = 100;
    pct = '100%';
  } else if (x.percent != null) {
    x.bar.value = x.percent;
    pct = x.percent.toFixed(1) + '%';
  } else if (running || x.state === 'queued') {
    x.bar.removeAttribute('value'); // no total known: an indeterminate bar, the records count moves
  } else {
    x.bar.value = 0;
  }
  q('.pct').textContent = pct;
  x.bar.setAttribute('aria-label', 'Export ' + x.id + ': ' + fmtInt(x.records) + (x.records === 1 ? ' record' : ' records') + (pct ? ', ' + pct : ''));
  x.errorEl.textContent = x.error;
  x.buttons.cancel.hidden = !(running || x.state === 'queued');
  x.buttons.resume.hidden = !(x.state === 'failed' || x.state === 'cancelled');
}

function scheduleLinks(x) {
  if (x.linksTimer) return;
  x.linksTimer = setTimeout(() => { x.linksTimer = null; loadLinks(x); }, 1000);
}

// loadLinks asks for the export's signed download URLs and lists its
// chunks with them.
async function loadLinks(x) {
  const p = x.el.querySelector('.links');
  let l;
  try {
    l = await api('GET', '/exports/' + x.id + '/links');
  } catch (err) {
    p.textContent = 'Downloads not available: ' + err.message;
    return;
  }
  p.replaceChildren();
  if (x.state === 'completed') {
    p.append('Whole export: ', link(l.dataUrl, 'download all chunks as one file'));
  } else if (l.chunks.length === 0) {
    p.textContent = 'No chunk sealed yet.';
  }
  const items = l.chunks.map((c) => {
    const li = document.createElement('li');
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = ' ' + fmtInt(c.records) + ' records, ' + fmtBytes(c.bytes) + ', sha256 ' + c.sha256.slice(0, 12) + '…';
    li.append(link(c.url, c.name), meta);
    return li;
  });
  x.el.querySelector('.chunk-list').replaceChildren(...items);
}

function link(href, text) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  a.setAttribute('download', '');
  return a;
}

async function act(x, what) {
  const btn = x.buttons[what];
  x.errorEl.textContent = '';
  if (what === 'delete' && !confirm('Delete export ' + x.id + ' and its files?')) return;
  btn.disabled = true;
  try {
    if (what === 'delete') {
      await api('DELETE', '/exports/' + x.id);
      page.exports.delete(x.id);
      x.el.remove();
      $('empty').hidden = page.exports.size > 0;
      $('started').textContent = 'Export ' + x.id + ' deleted.';
      return;
    }
    const m = await api('POST', '/exports/' + x.id + '/' + what);
    x.state = m.state;
    x.records = m.records;
    x.chunks = (m.chunks || []).length;
    x.error = m.error || '';
    render(x);
  } catch (err) {
    x.errorEl.textContent = err.message;
  } finally {
    btn.disabled = false;
  }
}

// ---- the new export form ----

function clearErrors(form) {
  for (const el of form.querySelectorAll('.error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

// showError puts message next to the field the daemon named (or the
// nearest enclosing one the form has), else under the form.
function showError(form, field, message) {
  let target = null;
  for (let f = field; f && !target; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') {
    target = document.getElementById('e-' + f) ||
      form.querySelector('.error[data-field^="' + CSS.escape(f + '.') + '"]');
  }
  target = target || $('e-form');
  target.textContent = message;
  const control = form.querySelector('[aria-describedby~="' + CSS.escape(target.id) + '"]');
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    control.focus();
  }
}

function newRequestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
}

// exportRequest is the form as the old service's request shape.
function exportRequest(form) {
  const v = (name) => form.elements[name].value.trim();
  const filters = {};
  if (v('filters.status')) filters.status = v('filters.status');
  if (v('filters.priority')) filters.priority = v('filters.priority');
  const start = v('filters.createdAtRange.start');
  const end = v('filters.createdAtRange.end');
  if (start || end) filters.createdAtRange = { start: start || undefined, end: end || undefined };
  if (v('filters.search')) filters.search = v('filters.search');
  const req = {
    requestId: page.pendingRequestId,
    profile: 'tasks',
    format: v('format'),
    compression: v('compression'),
    options: { sortBy: v('options.sortBy'), sortOrder: v('options.sortOrder') },
  };
  if (Object.keys(filters).length > 0) req.filters = filters;
  if (v('chunkRecords') !== '') req.chunkRecords = Number(v('chunkRecords'));
  return req;
}

async function submitExport(e) {
  e.preventDefault();
  const form = e.target;
  const btn = $('start');
  clearErrors(form);
  $('started').textContent = '';
  page.pendingRequestId = page.pendingRequestId || newRequestId();
  btn.disabled = true;
  try {
    const rep = await api('POST', '/exports', exportRequest(form));
    page.pendingRequestId = null;
    const x = view(rep.id);
    $('started').textContent = 'Export ' + rep.id + ' ' + x.state + '.';
  } catch (err) {
    if (err.status) page.pendingRequestId = null; // answered: a corrected request is a new one
    showError(form, err.field, err.message);
  } finally {
    btn.disabled = false;
  }
}

// ---- start ----

document.addEventListener('DOMContentLoaded', () => {
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    if (token === '') {
      $('token-error').textContent = 'Enter the token, or continue read-only.';
      $('token').setAttribute('aria-invalid', 'true');
      $('token').focus();
      return;
    }
    useToken(token);
  });
  $('no-token').addEventListener('click', () => useToken(''));
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    page.token = null;
    showTokenForm('');
  });
  $('new-export').addEventListener('submit', submitExport);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved === null) showTokenForm('');
  else useToken(saved);
});
