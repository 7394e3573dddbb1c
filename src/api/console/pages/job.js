// One job: what it was asked to do, its counters per library, warnings, skipped items with
// their reasons, errors, and (for restores) what was written where. Follows a running job.

import { api } from '../api.js';
import {
  h, fill, refill, bytes, count, duration, time, badge, table, facts, notice, short, jobLibraries, restoreTables,
} from '../ui.js';
import { progressCell, elapsed, cancelJob } from './jobs.js';

const COUNTERS = [
  ['containers', 'Containers'],
  ['versions', 'Versions'],
  ['versions_downloaded', 'Downloaded'],
  ['versions_unchanged', 'Unchanged'],
  ['bytes_read', 'Bytes read'],
  ['skipped', 'Skipped'],
  ['retried', 'Retried'],
];

function counters(job) {
  const libs = (job.progress && job.progress.libraries) || {};
  const names = Object.keys(libs);
  if (!names.length) return null;
  return h('section', { 'aria-labelledby': 'counters-h' },
    h('h2', { id: 'counters-h' }, 'Counters'),
    table('Counters by library', ['Library', ...COUNTERS.map((c) => c[1])],
      names.map((n) => h('tr', {},
        h('th', { scope: 'row' }, n),
        COUNTERS.map(([k]) => h('td', { class: 'num' }, k === 'bytes_read' ? bytes(libs[n][k]) : count(libs[n][k]))))),
      { scroll: true, hideCaption: true }));
}

function backupOutcomes(result) {
  const libs = (result && result.libraries) || [];
  if (!libs.length) return null;
  return h('section', { 'aria-labelledby': 'outcome-h' },
    h('h2', { id: 'outcome-h' }, 'Outcome by library'),
    table('Outcome by library', ['Library', 'State', 'Snapshot', 'Listing', 'New stored', 'Duration', 'Error'],
      libs.map((o) => h('tr', {},
        h('th', { scope: 'row' }, o.library),
        h('td', {}, badge(o.state)),
        h('td', {}, o.snapshot
          ? h('a', { href: `#/browse?library=${encodeURIComponent(o.library)}&snapshot=${o.snapshot}` }, short(o.snapshot))
          : '–'),
        h('td', {}, o.listing || '–'),
        h('td', { class: 'num' }, bytes(o.session && o.session.new_stored_bytes)),
        h('td', { class: 'num' }, duration(o.seconds)),
        h('td', { class: 'err' }, o.error || ''))),
      { scroll: true, hideCaption: true }));
}

async function skipped(result, slot) {
  const libs = ((result && result.libraries) || []).filter((o) => o.snapshot && o.counters && o.counters.skipped > 0);
  if (!libs.length) return;
  const parts = [h('h2', { id: 'skipped-h' }, 'Skipped items')];
  for (const o of libs) {
    const list = await api(`/snapshots/${o.snapshot}/skipped`);
    parts.push(table(`Skipped in ${o.library}`, ['Item', 'Reason'],
      list.items.map((s) => h('tr', {}, h('td', {}, s.object), h('td', {}, s.reason))),
      { scroll: true }));
  }
  fill(slot, h('section', { 'aria-labelledby': 'skipped-h' }, parts));
}

function restoreReport(r) {
  if (!r || r.what === undefined) return null;
  return h('section', { 'aria-labelledby': 'report-h' },
    h('h2', { id: 'report-h' }, r.dry_run ? 'What the restore would write' : 'What was restored'),
    facts([
      ['What', r.what],
      ['As of', [time(r.snapshot_time), ` (snapshot ${short(r.snapshot)})`]],
      ['Target', r.target],
      ['Documents', count(r.documents)],
      ['Versions', count(r.versions)],
      ['Bytes', bytes(r.bytes)],
      ['Already there', count(r.unchanged)],
      ['Failed', count(r.failed)],
    ]),
    restoreTables(r, r.dry_run, 'Versions'),
    r.notes && r.notes.length ? h('ul', { class: 'notes' }, r.notes.map((n) => h('li', {}, n))) : null);
}

function verifyReport(r) {
  if (!r || r.packs === undefined) return null;
  return h('section', { 'aria-labelledby': 'verify-h' },
    h('h2', { id: 'verify-h' }, 'What the verify checked'),
    facts([
      ['Snapshots', count(r.snapshots)],
      ['Packs', `${count(r.packs)} (${bytes(r.pack_bytes)})`],
      ['Packs read', count(r.packs_read)],
      ['Bytes read', bytes(r.bytes_read)],
      ['Problems', count((r.problems || []).length)],
    ]),
    r.problems && r.problems.length
      ? h('ul', { class: 'problems' }, r.problems.map((p) => h('li', {}, typeof p === 'string' ? p : JSON.stringify(p))))
      : null);
}

export async function render(main, ctx) {
  const id = ctx.arg;
  ctx.title(`Job ${short(id)}`);
  const heading = h('h1', {}, `Job ${short(id)}`);
  const status = h('div', { class: 'status-slot', 'aria-live': 'polite' });
  const body = h('div');
  const skippedSlot = h('div');
  fill(main, h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, 'Jobs')), heading, status, body, skippedSlot);
  let skippedDone = false;
  let last = '';
  let ended = false;
  const load = async () => {
    if (ended) return;
    const job = await api(`/jobs/${encodeURIComponent(id)}`);
    ended = Boolean(job.finished_at);
    const key = JSON.stringify(job);
    if (key === last) return;
    last = key;
    fill(heading, `${job.kind.replaceAll('_', ' ')} job ${short(job.id)} `, badge(job.state));
    const result = job.progress && job.progress.result;
    const warn = job.state === 'completed_with_warnings';
    refill(body,
      facts([
        ['Job id', h('code', {}, job.id)],
        ['Libraries', jobLibraries(job).join(', ') || '–'],
        ['Queued', time(job.created_at)],
        ['Started', time(job.started_at)],
        ['Finished', time(job.finished_at)],
        ['Duration', elapsed(job)],
        ['Progress', progressCell(job)],
        ['Asked for', h('code', { class: 'params' }, JSON.stringify(job.params))],
      ]),
      job.last_error
        ? h('section', { 'aria-labelledby': 'problem-h' },
          h('h2', { id: 'problem-h' }, warn ? 'Warnings' : (job.state === 'failed' ? 'Error' : 'Note')),
          h('p', { class: warn ? 'notice n-warn' : 'notice n-error' }, job.last_error))
        : null,
      (job.state === 'queued' || job.state === 'running') && !job.cancelling
        ? h('p', {}, h('button', { type: 'button', 'data-key': 'cancel', onclick: () => cancelJob(job, status, true).then(load) }, 'Cancel this job'))
        : null,
      job.cancelling ? notice('Cancelling: the job stops at its next checkpoint.') : null,
      counters(job),
      job.kind === 'backup' ? backupOutcomes(result) : null,
      job.kind === 'restore' ? restoreReport(result) : null,
      job.kind === 'verify' ? verifyReport(result) : null);
    if (job.kind === 'backup' && result && !skippedDone) {
      skippedDone = true;
      await skipped(result, skippedSlot);
    }
  };
  await load();
  ctx.every(1500, load);
}
