// Small DOM and formatting helpers. Elements are built with the DOM API (never from HTML
// strings), so no text from the API can become markup.

// h('a', {href: '#/x', class: 'c'}, 'text', child...) → element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Like fill, keeping the keyboard focus on the element with the same data-key and open
// <details> open (for pages that redraw while the operator reads them).
export function refill(el, ...children) {
  const active = document.activeElement;
  const focusKey = active && el.contains(active) ? keyOf(active) : null;
  const open = new Set([...el.querySelectorAll('details[open]')].map(keyOf));
  fill(el, ...children);
  for (const d of el.querySelectorAll('details')) {
    if (open.has(keyOf(d))) d.open = true;
  }
  if (focusKey) {
    const again = [...el.querySelectorAll('[data-key], a, button, summary')].find((e) => keyOf(e) === focusKey);
    if (again) again.focus();
  }
  return el;
}

function keyOf(e) {
  return e.dataset.key || `${e.tagName}:${e.getAttribute('href') || ''}:${e.textContent}`;
}

let ids = 0;
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

// 1234567 → "1.2 MB" (decimal units, as `imvault stats` prints).
export function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function count(n) {
  if (n === null || n === undefined) return '–';
  return Number(n).toLocaleString('en');
}

// Seconds → "850 ms", "12 s", "3 min 4 s", "2 h 5 min".
export function duration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const hr = Math.floor(m / 60);
  return `${hr} h ${m - hr * 60} min`;
}

const dateTime = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const dayFmt = new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short' });

// An RFC 3339 time as a <time> element in the browser's time zone.
export function time(iso) {
  if (!iso) return h('span', {}, '–');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, dateTime.format(d));
}

export function timeText(iso) {
  return iso ? dateTime.format(new Date(iso)) : '–';
}

// A "YYYY-MM-DD" date as "Tue 3 Nov".
export function day(date) {
  const [y, m, d] = date.split('-').map(Number);
  return dayFmt.format(new Date(Date.UTC(y, m - 1, d, 12)));
}

// How long ago, roughly.
export function ago(iso) {
  if (!iso) return '';
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 0) return `in ${duration(-s)}`;
  if (s < 90) return 'just now';
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

const STATE_TEXT = {
  completed: 'completed',
  completed_with_warnings: 'warnings',
  failed: 'failed',
  cancelled: 'cancelled',
  queued: 'queued',
  running: 'running',
  never: 'never',
  idle: 'idle',
};

// A state badge: colour and a word (colour is never the only cue).
export function badge(state, text) {
  const s = state || 'never';
  return h('span', { class: `badge s-${s}` }, text || STATE_TEXT[s] || s);
}

// Names each data cell by its column's header (data-label), so that narrow screens can show
// every row as a card of "label: value" lines instead of a table wider than the screen.
function labelCells(headers, rows) {
  for (const tr of rows) {
    let col = 0;
    for (const cell of tr.children) {
      if (cell.tagName === 'TD' && headers[col]) cell.dataset.label = headers[col];
      col += cell.colSpan || 1;
    }
  }
}

// A table with a caption, column headers and rows of cells. Below 760 px its rows stack as
// cards (see .stack in style.css).
export function table(caption, headers, rows, opts = {}) {
  labelCells(headers, rows);
  return h('div', { class: 'table-wrap', tabindex: opts.scroll ? '0' : null, role: opts.scroll ? 'region' : null, 'aria-label': opts.scroll ? caption : null },
    h('table', { class: ['stack', opts.class].filter(Boolean).join(' ') },
      h('caption', { class: opts.hideCaption ? 'visually-hidden' : null }, caption),
      h('thead', {}, h('tr', {}, headers.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.length
        ? rows
        : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, opts.empty || 'Nothing to show.')))));
}

// The tables of a restore's report: the versions written (or that a dry run would write) under
// `caption`, and the failures.
export function restoreTables(r, dry, caption) {
  return [
    r.items && r.items.length
      ? table(caption, ['Version', 'Size', dry ? 'Would be written as' : 'Written as'],
        r.items.map((i) => h('tr', {}, h('td', {}, i.version), h('td', { class: 'num' }, bytes(i.size)), h('td', { class: 'path' }, i.restored_as))),
        { scroll: true })
      : null,
    r.failures && r.failures.length
      ? table('Failures', ['Item', 'While', 'Error'],
        r.failures.map((f) => h('tr', {}, h('td', {}, f.object), h('td', {}, f.action), h('td', { class: 'err' }, f.error))),
        { scroll: true })
      : null,
  ];
}

// <dl> from [term, value] pairs.
export function facts(pairs, cls) {
  return h('dl', { class: cls || 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// A labelled form control with a slot for the API's message next to it.
export function field({ label, name, type = 'text', value = '', hint, required, control, autocomplete }) {
  const id = uid(`f-${name}`);
  const errId = `${id}-err`;
  const hintId = hint ? `${id}-hint` : null;
  const input = control || h('input', { id, name, type, value, required, autocomplete: autocomplete || 'off' });
  if (control) {
    input.id = id;
    input.name = name;
  }
  input.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field', 'data-field': name },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    input,
    h('p', { class: 'field-error', id: errId, role: 'alert', hidden: true }));
  return { wrap, input };
}

// Shows `message` next to the field named `name` inside `form` (or at the form's top).
export function showFieldError(form, name, message) {
  const wrap = name && form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (wrap) {
    const err = wrap.querySelector('.field-error');
    err.textContent = message;
    err.hidden = false;
    const input = wrap.querySelector('input, select, textarea');
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
    return;
  }
  const top = form.querySelector('.form-error');
  top.textContent = message;
  top.hidden = false;
  top.focus();
}

export function clearErrors(form) {
  for (const e of form.querySelectorAll('.field-error, .form-error')) {
    e.textContent = '';
    e.hidden = true;
  }
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

// A live region for page-level news ("Backup queued").
export function notice(text, kind = 'info') {
  return h('p', { class: `notice n-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

// A short id for display.
export function short(id) {
  return String(id).slice(0, 8);
}

// Libraries a job names (its parameters or its progress).
export function jobLibraries(job) {
  const p = job.params || {};
  if (Array.isArray(p.libraries)) return p.libraries;
  for (const k of ['document', 'folder', 'workspace']) {
    if (typeof p[k] === 'string') return [p[k].split('!')[0]];
  }
  if (typeof p.library === 'string') return [p.library];
  const libs = job.progress && job.progress.libraries;
  return libs ? Object.keys(libs) : [];
}

// Sum of a per-library progress counter.
export function progressTotal(job, key) {
  const libs = (job.progress && job.progress.libraries) || {};
  return Object.values(libs).reduce((n, c) => n + (c[key] || 0), 0);
}
