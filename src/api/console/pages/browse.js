// Browse: pick a library and a point in time (the snapshot calendar), then walk workspaces →
// folders → documents as they were then. Every place can be restored from here.

import { api, query } from '../api.js';
import { h, fill, bytes, time, table, notice, short } from '../ui.js';
import { snapshotCalendar } from '../calendar.js';

function browseHash(library, snapshot, container) {
  return `#/browse${query({ library, snapshot, container })}`;
}

function restoreHash(params) {
  return `#/restore${query(params)}`;
}

function kindWord(k) {
  return k === 'search_folder' ? 'search folder' : k;
}

async function chooseLibrary(main, ctx) {
  const libs = (await api('/libraries')).libraries;
  if (libs.length === 1) {
    ctx.navigate(browseHash(libs[0].id));
    return;
  }
  fill(main,
    h('h1', {}, 'Browse'),
    h('p', {}, 'Pick a library to browse what its snapshots hold.'),
    libs.length
      ? h('ul', { class: 'links' }, libs.map((l) => h('li', {},
        h('a', { href: browseHash(l.id) }, l.id),
        l.last_snapshot ? h('span', { class: 'sub' }, ' newest snapshot ', time(l.last_snapshot.time)) : h('span', { class: 'sub' }, ' no snapshot yet'))))
      : notice('No library yet: the daemon may still be signing in to iManage.'));
}

export async function render(main, ctx) {
  const library = ctx.params.get('library');
  if (!library) {
    ctx.title('Browse');
    await chooseLibrary(main, ctx);
    return;
  }
  ctx.title(`Browse ${library}`);
  let snapshot = ctx.params.get('snapshot');
  let container = ctx.params.get('container');
  const snaps = (await api(`/snapshots${query({ library })}`)).snapshots;
  if (!snaps.length) {
    fill(main, h('p', { class: 'crumbs' }, h('a', { href: '#/browse' }, 'Browse')), h('h1', {}, `Browse ${library}`),
      notice(`${library} has no snapshot yet. Back it up from the dashboard first.`, 'warn'));
    return;
  }
  if (!snaps.some((s) => s.id === snapshot)) snapshot = snaps[snaps.length - 1].id;
  const status = h('div', { class: 'status-slot', 'aria-live': 'polite' });
  const asOf = h('p', { class: 'lead' });
  const listing = h('div', { class: 'listing' });
  const calSlot = h('div');
  const pick = (s) => {
    snapshot = s.id;
    show();
  };
  fill(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/browse' }, 'Browse')),
    h('h1', {}, `Browse ${library}`),
    h('div', { class: 'browse' },
      h('aside', { class: 'when', 'aria-labelledby': 'when-h' }, h('h2', { id: 'when-h' }, 'Point in time'), calSlot),
      h('div', { class: 'where' }, asOf, status, listing)));

  fill(calSlot, snapshotCalendar(snaps, snapshot, pick));
  async function show() {
    const snap = snaps.find((s) => s.id === snapshot);
    fill(asOf, 'As of ', time(snap.time), ` — snapshot #${snap.seq} (${short(snap.id)}) of ${snaps.length}`);
    fill(status);
    let l;
    try {
      l = await api(`/snapshots/${snapshot}/children${query({ container })}`);
    } catch (e) {
      if (e.status === 404 && e.field === 'container') {
        fill(status, notice(`${container} is not in this snapshot; showing the top level.`, 'warn'));
        container = null;
        l = await api(`/snapshots/${snapshot}/children`);
      } else {
        throw e;
      }
    }
    ctx.setQuery({ library, snapshot, container });
    const crumbs = h('nav', { 'aria-label': 'Where you are', class: 'breadcrumb' },
      h('ol', {},
        h('li', {}, container ? h('a', { href: browseHash(library, snapshot) }, library) : h('span', { 'aria-current': 'location' }, library)),
        l.path.map((c, i) => h('li', {}, i === l.path.length - 1
          ? h('span', { 'aria-current': 'location' }, c.name)
          : h('a', { href: browseHash(library, snapshot, c.id) }, c.name)))));
    const here = l.container;
    const restoreHere = here
      ? h('p', {}, h('a', {
        class: 'button',
        href: restoreHash({ [here.kind === 'workspace' ? 'workspace' : 'folder']: here.id, snapshot }),
      }, `Restore this ${kindWord(here.kind)}…`))
      : null;
    const containers = l.containers.length
      ? table(here ? `Folders in ${here.name}` : `Workspaces of ${library}`, ['Name', 'Kind', 'Client', 'Matter', 'Id'],
        l.containers.map((c) => h('tr', {},
          h('th', { scope: 'row' }, c.kind === 'search_folder'
            ? c.name
            : h('a', { href: browseHash(library, snapshot, c.id) }, c.name)),
          h('td', {}, kindWord(c.kind)),
          h('td', {}, c.client || ''),
          h('td', {}, c.matter || ''),
          h('td', {}, h('code', {}, c.id)))),
        { scroll: true })
      : null;
    const documents = here
      ? table(`Documents in ${here.name}`, ['Name', 'Versions', 'Size', 'Author', 'Edited', ''],
        l.documents.map((d) => {
          const newest = d.versions[d.versions.length - 1];
          return h('tr', {},
            h('th', { scope: 'row' }, h('a', { href: `#/documents/${encodeURIComponent(d.id)}${query({ snapshot })}` }, d.name)),
            h('td', {}, d.versions.length === 1 ? `v${newest.version}` : `${d.versions.length} (v${d.versions[0].version}–v${newest.version})`),
            h('td', { class: 'num' }, bytes(newest.size)),
            h('td', {}, newest.author || ''),
            h('td', {}, newest.edit_date ? time(newest.edit_date) : ''),
            h('td', {}, h('a', { href: restoreHash({ document: d.id, snapshot }), 'aria-label': `Restore ${d.name}` }, 'Restore…')));
        }),
        { scroll: true, empty: 'No document is filed directly here.' })
      : null;
    fill(listing, crumbs, restoreHere, containers, documents,
      !here && !l.containers.length ? notice('This snapshot holds no workspace.') : null);
  }
  await show();
}
