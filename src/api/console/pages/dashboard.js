// Dashboard: one row per library (last backup, how long, what is protected, next run), the
// last 30 nights per library, the repository's totals and the last verify. Turns red when a
// library's last backup failed.

import { api } from '../api.js';
import { h, fill, refill, bytes, count, duration, time, ago, badge, table, facts, notice, short } from '../ui.js';
import { nightsChart } from '../chart.js';

function lastBackupCell(lib) {
  const b = lib.last_backup;
  if (!b) return h('td', {}, badge('never'), h('span', { class: 'sub' }, 'never backed up'));
  return h('td', {},
    badge(b.state),
    h('span', { class: 'sub' }, time(b.started_at), ' ', h('span', { class: 'muted' }, `(${ago(b.started_at)})`)),
    b.error ? h('span', { class: 'sub err' }, b.error) : null);
}

function activityCell(lib) {
  if (lib.activity === 'idle') return h('td', {}, 'idle');
  return h('td', {},
    badge(lib.activity),
    lib.active_job ? h('span', { class: 'sub' }, h('a', { href: `#/jobs/${lib.active_job}` }, `job ${short(lib.active_job)}`)) : null);
}

function libraryRow(lib, onBackup) {
  const p = lib.protected;
  const failed = lib.last_backup && lib.last_backup.state === 'failed';
  return h('tr', { class: failed ? 'row-failed' : null },
    h('th', { scope: 'row' }, h('a', { href: `#/browse?library=${encodeURIComponent(lib.id)}` }, lib.id)),
    lastBackupCell(lib),
    h('td', { class: 'num' }, lib.last_backup ? duration(lib.last_backup.seconds) : '–'),
    h('td', { class: 'num' }, p ? count(p.versions) : '–'),
    h('td', { class: 'num' }, p ? bytes(p.bytes) : '–'),
    h('td', {}, lib.next_scheduled_run ? time(lib.next_scheduled_run) : 'not scheduled'),
    activityCell(lib),
    h('td', {}, h('button', {
      type: 'button',
      'data-key': `backup-${lib.id}`,
      class: 'small',
      disabled: lib.activity !== 'idle',
      'aria-label': `Back up ${lib.id} now`,
      onclick: () => onBackup(lib.id),
    }, 'Back up now')));
}

function repository(r) {
  const f = r.figures;
  const body = f
    ? facts([
      ['Stored (packs)', `${bytes(f.pack_bytes)} in ${count(f.pack_objects)} packs`],
      ['Protected', bytes(f.protected_bytes)],
      ['Read by backups', bytes(f.logical_bytes)],
      ['Unique content', bytes(f.unique_bytes)],
      ['Dedup', `${f.dedup_ratio.toFixed(2)}×`],
      ['Compression', `${f.compression_ratio.toFixed(2)}×`],
      ['Snapshots', count(f.snapshots)],
    ])
    : h('p', {}, r.refreshing ? 'Computing the repository’s totals…' : 'No figures yet.');
  return h('section', { class: 'card', 'aria-labelledby': 'repo-h' },
    h('h2', { id: 'repo-h' }, 'Repository'),
    body,
    r.error ? notice(`Could not read the repository: ${r.error}`, 'error') : null,
    r.computed_at ? h('p', { class: 'muted small' }, 'As of ', time(r.computed_at), r.refreshing ? ' (refreshing)' : '') : null);
}

function verify(v) {
  const body = v
    ? [facts([
      ['Result', badge(v.state, v.state === 'completed' ? 'no problem' : undefined)],
      ['Finished', time(v.finished_at)],
      ['Data read', v.read_data_percent ? `${v.read_data_percent}% of the packs` : 'structure only'],
      ['Problems', count(v.problems)],
    ]),
    v.error ? h('p', { class: 'sub err' }, v.error) : null,
    h('p', {}, h('a', { href: `#/jobs/${v.job}` }, 'The verify job'))]
    : h('p', {}, 'No verify has run yet.');
  return h('section', { class: 'card', 'aria-labelledby': 'verify-h' },
    h('h2', { id: 'verify-h' }, 'Last verify'), body);
}

export async function render(main, ctx) {
  ctx.title('Dashboard');
  const status = h('div', { class: 'status-slot', 'aria-live': 'polite' });
  const summary = h('p', { class: 'lead' });
  const libs = h('div');
  const charts = h('div', { class: 'charts' });
  const side = h('div', { class: 'cards' });
  fill(main,
    h('h1', {}, 'Dashboard'),
    summary,
    status,
    h('section', { 'aria-labelledby': 'libs-h' }, h('h2', { id: 'libs-h' }, 'Libraries'), libs),
    h('section', { 'aria-labelledby': 'nights-h' }, h('h2', { id: 'nights-h' }, 'Last 30 nights'), charts),
    side);

  const backup = async (library) => {
    fill(status);
    try {
      const job = await api('/backups', { method: 'POST', body: { libraries: [library] } });
      ctx.navigate(`#/jobs?highlight=${job.id}`);
    } catch (e) {
      fill(status, notice(`Could not start the backup of ${library}: ${e.message}`, 'error'));
    }
  };

  let last = '';
  const load = async () => {
    const d = await api('/dashboard');
    // Redraw only when something changed (keeps the keyboard focus and open tables).
    const key = JSON.stringify({ ...d, generated_at: null });
    if (key === last) return;
    last = key;
    const failed = d.libraries.filter((l) => l.last_backup && l.last_backup.state === 'failed');
    const never = d.libraries.filter((l) => !l.last_backup);
    fill(summary,
      failed.length
        ? h('span', { class: 'alert' }, `${failed.length} of ${d.libraries.length} libraries failed their last backup: ${failed.map((l) => l.id).join(', ')}.`)
        : `${d.libraries.length} libraries; ${never.length ? `${never.length} never backed up; ` : ''}${d.jobs_running} jobs running, ${d.jobs_queued} queued.`);
    document.body.classList.toggle('has-failure', failed.length > 0);
    refill(libs, table('Libraries and their last backup',
      ['Library', 'Last backup', 'Duration', 'Versions', 'Protected', 'Next run', 'Now', ''],
      d.libraries.map((l) => libraryRow(l, backup)),
      { scroll: true, hideCaption: true, class: 'libraries', empty: 'No library yet: the daemon may still be signing in to iManage.' }));
    refill(charts, d.libraries.map((l) => h('div', { class: 'chart-block' },
      h('h3', {}, l.id), nightsChart(l.id, l.nights))));
    fill(side, repository(d.repository), verify(d.last_verify));
  };
  await load();
  ctx.every(5000, load);
  ctx.onLeave(() => document.body.classList.remove('has-failure'));
}
