// Search across every snapshot by name, author, client and matter.

import { api, query } from '../api.js';
import { h, fill, bytes, time, table, notice, field, showFieldError, clearErrors, uid } from '../ui.js';

const FIELDS = [
  ['client', 'Client', 'The workspace’s client code, exactly.'],
  ['matter', 'Matter', 'The workspace’s matter code, exactly.'],
  ['name', 'Name', 'Part of the name; or a pattern with * and ?.'],
  ['author', 'Author', 'The author’s user id, exactly.'],
];

// A plain word searches inside names; a pattern is used as given.
function namePattern(s) {
  return /[*?[]/.test(s) ? s : `*${s}*`;
}

export async function render(main, ctx) {
  ctx.title('Search');
  const p = ctx.params;
  let libraries = [];
  try {
    libraries = (await api('/libraries')).libraries.map((l) => l.id);
  } catch (e) {
    if (e.status === 401) throw e;
  }
  const inputs = {};
  const fields = FIELDS.map(([name, label, hint]) => {
    const f = field({ label, name, value: p.get(name) || '', hint });
    inputs[name] = f.input;
    return f.wrap;
  });
  const libId = uid('f-library');
  const libSelect = h('select', { id: libId, name: 'library' },
    h('option', { value: '' }, 'every library'),
    libraries.map((l) => h('option', { value: l, selected: l === p.get('library') }, l)));
  inputs.library = libSelect;
  const results = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'search-form', role: 'search', 'aria-label': 'Search documents' },
    h('p', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true }),
    h('div', { class: 'grid' }, fields,
      h('div', { class: 'field', 'data-field': 'library' }, h('label', { for: libId }, 'Library'), libSelect,
        h('p', { class: 'field-error', role: 'alert', hidden: true }))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));

  const run = async () => {
    clearErrors(form);
    const q = {};
    for (const k of Object.keys(inputs)) q[k] = inputs[k].value.trim();
    ctx.setQuery(q);
    if (!q.client && !q.matter && !q.name && !q.author) {
      fill(results, notice('Give at least one of client, matter, name or author.'));
      return;
    }
    fill(results, h('p', { class: 'loading' }, 'Searching…'));
    let r;
    try {
      r = await api(`/search${query({ ...q, name: q.name ? namePattern(q.name) : '' })}`);
    } catch (e) {
      fill(results);
      if (e.status === 401) throw e;
      showFieldError(form, e.field, e.message);
      return;
    }
    const rows = r.hits.map((hit) => {
      const v = hit.version;
      const span = hit.snapshots[hit.snapshots.length - 1];
      const ws = hit.workspace;
      return h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: `#/documents/${encodeURIComponent(v.document)}${query({ snapshot: span.last.id })}` }, v.file_name)),
        h('td', {}, `v${v.version}`),
        h('td', { class: 'num' }, bytes(v.size)),
        h('td', {}, v.author || ''),
        h('td', {}, ws ? [ws.name, ws.client || ws.matter ? h('span', { class: 'sub' }, `${ws.client || '–'} / ${ws.matter || '–'}`) : null] : ''),
        h('td', {}, `${hit.snapshot_count} (`, time(hit.snapshots[0].first.time), ' – ', time(span.last.time), ')'));
    });
    fill(results,
      h('h2', { id: 'results-h' }, `${r.hits.length}${r.more ? '+' : ''} version${r.hits.length === 1 ? '' : 's'} found`),
      r.more ? notice(`Showing the first ${r.limit}; narrow the search to see the rest.`, 'warn') : null,
      table('Matching versions', ['Document', 'Version', 'Size', 'Author', 'Workspace (client / matter)', 'In snapshots'], rows,
        { scroll: true, hideCaption: true, empty: 'No backed-up version matches.' }));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    run().catch(() => {});
  });
  fill(main, h('h1', {}, 'Search'),
    h('p', { class: 'lead' }, 'Find documents in every snapshot: by the client and matter of their workspace, their name or their author.'),
    form, results);
  if (['client', 'matter', 'name', 'author'].some((k) => p.get(k))) await run();
}
