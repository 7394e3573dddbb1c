// A document: every backed-up version (size, author, dates) and the snapshots holding each,
// where it was filed, and a restore link per version.

import { api, query } from '../api.js';
import { h, fill, bytes, time, timeText, table, short } from '../ui.js';

function held(span) {
  if (span.count === 1) return [`1 snapshot: #${span.first.seq}, `, time(span.first.time)];
  return [`${span.count} snapshots: #${span.first.seq} (`, time(span.first.time), `) to #${span.last.seq} (`, time(span.last.time), ')'];
}

export async function render(main, ctx) {
  const id = ctx.arg;
  const snapshot = ctx.params.get('snapshot');
  const doc = await api(`/documents/${encodeURIComponent(id)}/versions${query({ snapshot })}`);
  ctx.title(doc.name);
  const library = id.split('!')[0];
  const back = h('p', { class: 'crumbs' },
    h('a', { href: `#/browse${query({ library, snapshot })}` }, `Browse ${library}`));
  const filed = doc.filed_in.length
    ? h('section', { 'aria-labelledby': 'filed-h' },
      h('h2', { id: 'filed-h' }, 'Filed in'),
      h('ul', { class: 'links' }, doc.filed_in.map((path) => h('li', {},
        path.map((c, i) => [i ? ' › ' : '', h('a', { href: `#/browse${query({ library, snapshot, container: c.id })}` }, c.name)])))))
    : null;
  const rows = doc.versions.map((v) => {
    const ver = v.version;
    // Restore the state from the snapshot chosen, when it holds it, else the newest holding it.
    const from = v.in_snapshot ? snapshot : v.snapshots.last.id;
    return h('tr', { class: v.in_snapshot ? 'current' : null },
      h('th', { scope: 'row' }, `v${ver.version}`),
      h('td', {}, ver.file_name),
      h('td', { class: 'num' }, bytes(ver.size)),
      h('td', {}, ver.author || ''),
      h('td', {}, ver.edit_date ? time(ver.edit_date) : ''),
      h('td', {}, held(v.snapshots)),
      snapshot ? h('td', {}, v.in_snapshot ? 'yes' : 'no') : null,
      h('td', {}, h('a', {
        href: `#/restore${query({ document: id, version: ver.version, snapshot: from })}`,
        'aria-label': `Restore version ${ver.version} of ${doc.name}`,
      }, 'Restore…')));
  });
  const headers = ['Version', 'File name', 'Size', 'Author', 'Edited', 'Held by', snapshot ? 'In this snapshot' : null, ''].filter((x) => x !== null);
  fill(main,
    back,
    h('h1', {}, doc.name),
    h('p', { class: 'lead' }, h('code', {}, doc.id),
      doc.snapshot ? ` as of ${timeText(doc.snapshot.time)} (snapshot #${doc.snapshot.seq}, ${short(doc.snapshot.id)})` : ''),
    filed,
    h('section', { 'aria-labelledby': 'versions-h' },
      h('h2', { id: 'versions-h' }, 'Versions'),
      table(`Versions of ${doc.name}`, headers, rows, { scroll: true, hideCaption: true })),
    h('p', {}, h('a', { class: 'button', href: `#/restore${query({ document: id, snapshot })}` }, 'Restore every version…')));
}
