// Jobs: the live list with filters (kind, state, library), progress bars that move while a
// job runs, and cancel.

import { api, query } from '../api.js';
import {
  h, fill, refill, bytes, count, duration, time, badge, table, notice, short, jobLibraries, progressTotal, uid,
} from '../ui.js';

const KINDS = ['backup', 'restore', 'verify', 'prune', 'forget', 'catalog_rebuild'];
const STATES = ['queued', 'running', 'completed', 'completed_with_warnings', 'failed', 'cancelled'];
const PAGE = 25;

function select(label, name, options, value) {
  const id = uid(`filter-${name}`);
  const sel = h('select', { id, name },
    h('option', { value: '' }, 'any'),
    options.map((o) => h('option', { value: o, selected: o === value }, o.replaceAll('_', ' '))));
  return [h('label', { for: id }, label), sel];
}

// The progress of a job as text and, while it runs, a bar.
export function progressCell(job) {
  const done = progressTotal(job, 'versions');
  // A backup counts bytes read from iManage; a restore the bytes it restored.
  const read = progressTotal(job, 'bytes_read') + progressTotal(job, 'bytes');
  const expected = job.progress && job.progress.expected_versions
    ? Object.values(job.progress.expected_versions).reduce((a, b) => a + b, 0)
    : 0;
  const text = job.kind === 'verify'
    ? (job.state === 'running' ? 'checking the repository…' : '')
    : job.kind === 'restore'
      ? `${count(done)} versions, ${bytes(read)} restored`
      : `${count(done)} versions${expected ? ` of ~${count(expected)}` : ''}, ${bytes(read)} read`;
  if (job.state !== 'running') {
    return h('span', { class: 'muted' }, job.progress ? text : '');
  }
  const label = `Progress of job ${short(job.id)}`;
  const bar = expected
    ? h('progress', { max: expected, value: Math.min(done, expected), 'aria-label': label })
    : h('progress', { 'aria-label': label });
  return h('span', { class: 'progress' }, bar, h('span', { class: 'sub' }, text));
}

export function elapsed(job) {
  if (job.started_at && job.finished_at) {
    return duration((new Date(job.finished_at) - new Date(job.started_at)) / 1000);
  }
  if (job.progress && job.progress.elapsed_seconds !== undefined) return duration(job.progress.elapsed_seconds);
  return '–';
}

// Asks the daemon to cancel `job`; says so in `status` unless `quiet` (a page that shows the
// job's own "cancelling" state). A refusal is always shown.
export async function cancelJob(job, status, quiet = false) {
  try {
    await api(`/jobs/${job.id}/cancel`, { method: 'POST' });
    fill(status, quiet ? null : notice(`Cancelling job ${short(job.id)}.`));
  } catch (e) {
    fill(status, notice(`Could not cancel job ${short(job.id)}: ${e.message}`, 'error'));
  }
}

export async function render(main, ctx) {
  ctx.title('Jobs');
  const p = ctx.params;
  const state = {
    kind: p.get('kind') || '',
    state: p.get('state') || '',
    library: p.get('library') || '',
    offset: Number(p.get('offset') || 0),
  };
  const highlight = p.get('highlight');
  let libraries = [];
  try {
    libraries = (await api('/libraries')).libraries.map((l) => l.id);
  } catch (e) {
    if (e.status === 401) throw e;
  }
  const status = h('div', { class: 'status-slot', 'aria-live': 'polite' });
  if (highlight) fill(status, notice(`Job ${short(highlight)} queued. It is highlighted below while it runs.`));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter jobs' },
    h('div', {}, select('Kind', 'kind', KINDS, state.kind)),
    h('div', {}, select('State', 'state', STATES, state.state)),
    h('div', {}, select('Library', 'library', libraries, state.library)));
  const list = h('div');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of jobs' });
  fill(main, h('h1', {}, 'Jobs'), status, form, list, pager);

  const load = async () => {
    const page = await api(`/jobs${query({ ...state, offset: state.offset || null, limit: PAGE })}`);
    const rows = page.jobs.map((j) => h('tr', { class: j.id === highlight ? 'highlight' : null, 'data-job': j.id, 'data-state': j.state },
      h('th', { scope: 'row' }, h('a', { href: `#/jobs/${j.id}`, 'data-key': `job-${j.id}` }, short(j.id))),
      h('td', {}, j.kind.replaceAll('_', ' ')),
      h('td', {}, jobLibraries(j).join(', ') || '–'),
      h('td', {}, badge(j.state), j.cancelling ? h('span', { class: 'sub' }, 'cancelling…') : null),
      h('td', { class: 'progress-cell' }, progressCell(j)),
      h('td', {}, time(j.started_at || j.created_at)),
      h('td', { class: 'num' }, elapsed(j)),
      h('td', {}, (j.state === 'queued' || j.state === 'running') && !j.cancelling
        ? h('button', { type: 'button', class: 'small', 'data-key': `cancel-${j.id}`, 'aria-label': `Cancel job ${short(j.id)}`, onclick: () => cancelJob(j, status).then(load) }, 'Cancel')
        : null)));
    refill(list, table('Jobs, newest first', ['Job', 'Kind', 'Libraries', 'State', 'Progress', 'Started', 'Duration', ''], rows,
      { scroll: true, hideCaption: true, class: 'jobs', empty: 'No job matches these filters.' }));
    refill(pager,
      state.offset > 0 ? h('button', { type: 'button', class: 'small', 'data-key': 'newer', onclick: () => { state.offset = Math.max(0, state.offset - PAGE); sync(); } }, 'Newer jobs') : null,
      page.next_offset ? h('button', { type: 'button', class: 'small', 'data-key': 'older', onclick: () => { state.offset = page.next_offset; sync(); } }, 'Older jobs') : null);
  };
  const sync = () => {
    ctx.setQuery({ ...state, offset: state.offset || null, highlight });
    load().catch(() => {});
  };
  form.addEventListener('change', (ev) => {
    state[ev.target.name] = ev.target.value;
    state.offset = 0;
    sync();
  });
  form.addEventListener('submit', (ev) => ev.preventDefault());
  await load();
  ctx.every(2000, load);
}
