// The snapshot calendar: a month grid in which the days holding snapshots are buttons; picking
// a day shows its snapshots (by time) to pick one. Days are those of the browser's time zone.

import { h, fill } from './ui.js';

const monthFmt = new Intl.DateTimeFormat('en-GB', { month: 'long', year: 'numeric' });
const longDay = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function dayKey(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// snapshots: [{id, time, seq}] oldest first; selected: an id; onPick(snapshot).
export function snapshotCalendar(snapshots, selected, onPick) {
  const byDay = new Map();
  for (const s of snapshots) {
    const k = dayKey(new Date(s.time));
    if (!byDay.has(k)) byDay.set(k, []);
    byDay.get(k).push(s);
  }
  let chosen = snapshots.find((s) => s.id === selected) || snapshots[snapshots.length - 1];
  const choose = (s, focusKey) => {
    chosen = s;
    day = dayKey(new Date(s.time));
    onPick(s);
    draw(focusKey);
  };
  let month = chosen ? new Date(chosen.time) : new Date();
  month = new Date(month.getFullYear(), month.getMonth(), 1);
  let day = chosen ? dayKey(new Date(chosen.time)) : null;
  const root = h('div', { class: 'calendar' });
  const first = snapshots.length ? new Date(snapshots[0].time) : new Date();
  const last = snapshots.length ? new Date(snapshots[snapshots.length - 1].time) : new Date();
  const minMonth = new Date(first.getFullYear(), first.getMonth(), 1);
  const maxMonth = new Date(last.getFullYear(), last.getMonth(), 1);

  const draw = (focusKey) => {
    const title = monthFmt.format(month);
    const titleId = `cal-${month.getFullYear()}-${month.getMonth()}`;
    const prev = h('button', { type: 'button', class: 'small', 'aria-label': 'Previous month', disabled: month <= minMonth, onclick: () => { month = new Date(month.getFullYear(), month.getMonth() - 1, 1); draw(); } }, '‹');
    const next = h('button', { type: 'button', class: 'small', 'aria-label': 'Next month', disabled: month >= maxMonth, onclick: () => { month = new Date(month.getFullYear(), month.getMonth() + 1, 1); draw(); } }, '›');
    const cells = [];
    const lead = (month.getDay() + 6) % 7;
    for (let i = 0; i < lead; i += 1) cells.push(h('td', {}));
    const days = new Date(month.getFullYear(), month.getMonth() + 1, 0).getDate();
    for (let d = 1; d <= days; d += 1) {
      const date = new Date(month.getFullYear(), month.getMonth(), d);
      const k = dayKey(date);
      const snaps = byDay.get(k);
      if (!snaps) {
        cells.push(h('td', { class: 'no-snap' }, h('span', { 'aria-hidden': 'true' }, String(d))));
        continue;
      }
      const label = `${longDay.format(date)}: ${snaps.length} snapshot${snaps.length === 1 ? '' : 's'}`;
      cells.push(h('td', {}, h('button', {
        type: 'button',
        class: 'day',
        'data-day': k,
        'data-focus': `day-${k}`,
        'aria-label': label,
        'aria-pressed': k === day ? 'true' : 'false',
        onclick: () => choose(snaps[snaps.length - 1], `day-${k}`),
      }, String(d))));
    }
    const rows = [];
    for (let i = 0; i < cells.length; i += 7) rows.push(h('tr', {}, cells.slice(i, i + 7)));
    const picked = day && byDay.get(day);
    fill(root,
      h('div', { class: 'cal-head' }, prev, h('h3', { id: titleId }, title), next),
      h('table', { class: 'cal-grid', 'aria-labelledby': titleId },
        h('thead', {}, h('tr', {}, WEEKDAYS.map((w) => h('th', { scope: 'col', abbr: w }, w)))),
        h('tbody', {}, rows)),
      picked
        ? h('div', { class: 'cal-times' },
          h('p', { class: 'small' }, `Snapshots on ${longDay.format(new Date(picked[0].time))}:`),
          h('ul', { class: 'chips' }, picked.map((s) => h('li', {}, h('button', {
            type: 'button',
            class: 'chip',
            'data-focus': `snap-${s.id}`,
            'aria-pressed': chosen && s.id === chosen.id ? 'true' : 'false',
            onclick: () => choose(s, `snap-${s.id}`),
          }, `${clock.format(new Date(s.time))} (#${s.seq})`)))))
        : null);
    if (focusKey) {
      const b = root.querySelector(`[data-focus="${focusKey}"]`);
      if (b) b.focus();
    }
  };
  draw();
  return root;
}
