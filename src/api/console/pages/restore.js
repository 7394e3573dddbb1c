// Restore: a document (one version or all), a folder or a workspace as of a snapshot, to an
// export directory on the daemon's host, back where it was, or into another folder. A dry run
// first shows what would be written; then the restore starts and is followed to its end. An
// answer the API refuses is shown next to the field it names.

import { api, query } from '../api.js';
import {
  h, fill, bytes, count, time, notice, short, field, showFieldError, clearErrors, badge, uid, restoreTables,
} from '../ui.js';

const FORM_FIELDS = ['to', 'merge', 'into', 'into_folder', 'acl'];

async function describe(sel, snapshot) {
  if (sel.document) {
    const d = await api(`/documents/${encodeURIComponent(sel.document)}/versions${query({ snapshot })}`);
    return sel.version ? `version ${sel.version} of ${d.name} (${sel.document})` : `every version of ${d.name} (${sel.document})`;
  }
  const id = sel.folder || sel.workspace;
  if (id && snapshot) {
    const l = await api(`/snapshots/${snapshot}/children${query({ container: id })}`);
    return `${l.container.kind === 'workspace' ? 'workspace' : 'folder'} ${l.container.name} (${id}) with everything under it`;
  }
  return id || sel.library;
}

function radio(name, value, label, checked, describedBy) {
  const id = uid(`r-${value}`);
  return h('div', { class: 'radio' },
    h('input', { type: 'radio', id, name, value, checked, 'aria-describedby': describedBy }),
    h('label', { for: id }, label));
}

function follow(jobId, slot, onEnd) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    let job;
    try {
      job = await api(`/jobs/${jobId}`);
    } catch (e) {
      if (e.status === 401) return;
      setTimeout(tick, 1500);
      return;
    }
    const c = (job.progress && job.progress.libraries) || {};
    const done = Object.values(c).reduce((n, x) => n + (x.versions || 0), 0);
    fill(slot, h('p', {}, 'Job ', h('a', { href: `#/jobs/${job.id}` }, short(job.id)), ': ', badge(job.state),
      job.state === 'running' ? [' ', h('progress', { 'aria-label': 'Restore progress' }), ` ${count(done)} versions so far`] : null));
    if (job.finished_at) {
      stopped = true;
      onEnd(job);
      return;
    }
    setTimeout(tick, 600);
  };
  tick();
  return () => {
    stopped = true;
  };
}

function report(r, dry) {
  if (!r || r.versions === undefined) return null;
  return [
    h('p', { class: 'lead' }, dry
      ? `Would write ${count(r.versions)} version${r.versions === 1 ? '' : 's'} (${bytes(r.bytes)}) of ${count(r.documents)} document${r.documents === 1 ? '' : 's'} to ${r.target}.`
      : `Restored ${count(r.versions)} version${r.versions === 1 ? '' : 's'} (${bytes(r.bytes)}) to ${r.target}.`,
    r.unchanged ? ` ${count(r.unchanged)} already there.` : '',
    r.failed ? ` ${count(r.failed)} failed.` : ''),
    restoreTables(r, dry, dry ? 'What would be written' : 'What was written'),
  ];
}

export async function render(main, ctx) {
  ctx.title('Restore');
  const p = ctx.params;
  const sel = {};
  for (const k of ['document', 'folder', 'workspace', 'library']) if (p.get(k)) sel[k] = p.get(k);
  if (p.get('version')) sel.version = Number(p.get('version'));
  const snapshot = p.get('snapshot');
  if (!sel.document && !sel.folder && !sel.workspace && !sel.library) {
    fill(main, h('h1', {}, 'Restore'), notice('Pick what to restore from Browse or Search first.'),
      h('p', {}, h('a', { href: '#/browse' }, 'Browse'), ' · ', h('a', { href: '#/search' }, 'Search')));
    return;
  }
  const what = await describe(sel, snapshot);
  let asOf = 'the newest snapshot';
  const library = (sel.document || sel.folder || sel.workspace || sel.library).split('!')[0];
  if (snapshot) {
    const snaps = (await api(`/snapshots${query({ library })}`)).snapshots;
    const s = snaps.find((x) => x.id === snapshot);
    if (s) asOf = [time(s.time), ` (snapshot #${s.seq}, ${short(s.id)})`];
  }

  const mode = p.get('mode') || 'to';
  const toField = field({
    label: 'Directory on the daemon’s host',
    name: 'to',
    value: p.get('to') || '',
    hint: 'An absolute path, e.g. /srv/restores/engagement-letter. It must be empty unless you allow merging.',
  });
  const mergeId = uid('merge');
  const merge = h('div', { class: 'field check', 'data-field': 'merge' },
    h('input', { type: 'checkbox', id: mergeId, name: 'merge' }),
    h('label', { for: mergeId }, 'Allow a directory that is not empty (existing files are never overwritten)'),
    h('p', { class: 'field-error', role: 'alert', hidden: true }));
  const folderField = field({
    label: 'Target folder',
    name: 'into_folder',
    value: p.get('into_folder') || '',
    hint: `A folder or workspace id of ${library}, like ${library}!1234 (shown in Browse).`,
  });
  const aclId = uid('acl');
  const acl = h('div', { class: 'field', 'data-field': 'acl' },
    h('label', { for: aclId }, 'Security'),
    h('select', { id: aclId, name: 'acl' },
      h('option', { value: 'keep' }, 'Keep the security it had then'),
      h('option', { value: 'inherit' }, 'Take the target’s security')),
    h('p', { class: 'field-error', role: 'alert', hidden: true }));
  const intoGroup = h('fieldset', { class: 'field', 'data-field': 'into' },
    h('legend', {}, 'Restore to'),
    radio('into', 'to', 'An export directory on the daemon’s host', mode === 'to'),
    radio('into', 'original', 'Back into iManage, where it was', mode === 'original'),
    radio('into', 'folder', 'Into another iManage folder, as new documents', mode === 'folder'),
    h('p', { class: 'field-error', role: 'alert', hidden: true }));
  const toPart = h('div', { class: 'dest dest-to' }, toField.wrap, merge);
  const folderPart = h('div', { class: 'dest dest-folder' }, folderField.wrap);
  const aclPart = h('div', { class: 'dest dest-imanage' }, acl);
  const preview = h('button', { type: 'submit', class: 'primary', value: 'preview' }, 'Preview (dry run)');
  const start = h('button', { type: 'button', disabled: true }, 'Restore');
  const form = h('form', { class: 'restore-form', novalidate: true },
    h('p', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true }),
    intoGroup, toPart, folderPart, aclPart,
    h('div', { class: 'actions' }, preview, start),
    h('p', { class: 'hint' }, 'Preview first: it shows what would be written and writes nothing. Restore is enabled once a preview of these settings succeeded.'));
  const previewSlot = h('section', { 'aria-labelledby': 'preview-h', 'aria-live': 'polite' });
  const runSlot = h('section', { 'aria-labelledby': 'run-h', 'aria-live': 'polite' });

  const currentMode = () => form.querySelector('input[name="into"]:checked').value;
  const showMode = () => {
    const m = currentMode();
    toPart.hidden = m !== 'to';
    folderPart.hidden = m !== 'folder';
    aclPart.hidden = m === 'to';
  };
  showMode();

  const request = (dry) => {
    const m = currentMode();
    const r = { ...sel, acl: acl.querySelector('select').value, dry_run: dry };
    if (snapshot) r.snapshot = snapshot;
    if (m === 'to') {
      r.to = toField.input.value.trim();
      if (form.querySelector('input[name="merge"]').checked) r.merge = true;
      delete r.acl;
    } else if (m === 'original') {
      r.into = 'original';
    } else {
      r.into_folder = folderField.input.value.trim();
    }
    return r;
  };

  let previewed = null;
  let stop = null;
  ctx.onLeave(() => stop && stop());
  const reset = () => {
    previewed = null;
    start.disabled = true;
  };
  form.addEventListener('change', () => {
    showMode();
    reset();
  });
  form.addEventListener('input', reset);

  const submit = async (dry) => {
    clearErrors(form);
    const r = request(dry);
    if (r.to === '') {
      showFieldError(form, 'to', 'Enter the directory to restore into.');
      return;
    }
    if (r.into_folder === '') {
      showFieldError(form, 'into_folder', 'Enter the folder to restore into.');
      return;
    }
    const slot = dry ? previewSlot : runSlot;
    const title = h('h2', { id: dry ? 'preview-h' : 'run-h' }, dry ? 'Preview' : 'Restore');
    const progress = h('div');
    const out = h('div');
    fill(slot, title, progress, out);
    preview.disabled = true;
    start.disabled = true;
    let job;
    try {
      job = await api('/restores', { method: 'POST', body: r });
    } catch (e) {
      preview.disabled = false;
      fill(slot);
      if (e.status === 401) return;
      const f = e.field === 'into' ? 'into' : (FORM_FIELDS.includes(e.field) ? e.field : null);
      showFieldError(form, f, e.message);
      return;
    }
    ctx.setQuery({ ...sel, snapshot, mode: currentMode(), to: r.to, into_folder: r.into_folder });
    stop = follow(job.id, progress, (done) => {
      preview.disabled = false;
      const result = done.progress && done.progress.result;
      if (done.state === 'failed' || done.state === 'cancelled') {
        fill(out, notice(`The ${dry ? 'preview' : 'restore'} ${done.state}: ${done.last_error || ''}`, 'error'));
        if (r.to && done.last_error && done.last_error.includes(r.to)) {
          showFieldError(form, 'to', done.last_error);
        }
        return;
      }
      fill(out, report(result, dry), done.last_error ? notice(done.last_error, 'warn') : null,
        dry ? null : h('p', {}, h('a', { href: `#/jobs/${done.id}` }, 'See the restore job')));
      if (dry) {
        previewed = JSON.stringify(request(false));
        start.disabled = false;
        start.focus();
      }
    });
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit(true);
  });
  start.addEventListener('click', () => {
    if (previewed !== JSON.stringify(request(false))) {
      reset();
      return;
    }
    submit(false);
  });

  fill(main,
    h('h1', {}, 'Restore'),
    h('dl', { class: 'facts' }, h('dt', {}, 'What'), h('dd', {}, what), h('dt', {}, 'As of'), h('dd', {}, asOf)),
    form, previewSlot, runSlot);
}
