// The nights chart: one column per night, three rows (duration, new bytes, skipped items).
// A failed night fills its whole column in red, a night without a backup shows a grey mark,
// so a bad night stands out at a glance. Drawn as SVG elements with attributes (no inline
// style); the same figures are in a table for screen readers and keyboard users.

import { h, bytes, duration, count, day, badge, table } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

const STATE_WORD = {
  completed: 'completed',
  completed_with_warnings: 'completed with warnings',
  failed: 'failed',
  cancelled: 'cancelled',
};

function describe(n) {
  if (!n.state) return `${day(n.date)}: no backup`;
  return `${day(n.date)}: ${STATE_WORD[n.state]}, ${n.runs} run${n.runs === 1 ? '' : 's'}, ${duration(n.seconds)}, ${bytes(n.bytes_read)} new, ${count(n.skipped)} skipped${n.error ? ` — ${n.error}` : ''}`;
}

export function nightsChart(library, nights) {
  const rows = [
    ['Duration', (n) => n.seconds, duration],
    ['New bytes', (n) => n.bytes_read, bytes],
    ['Skipped', (n) => n.skipped, count],
  ];
  // User units; the axis text is 12 of them, readable once the chart is scaled to a phone.
  const colW = 12;
  const rowH = 40;
  const gap = 10;
  const left = 100;
  const width = left + nights.length * colW;
  const height = rows.length * (rowH + gap) + 22;
  const titleId = `chart-${library}-title`;
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'nights',
    role: 'img',
    'aria-labelledby': titleId,
    preserveAspectRatio: 'xMinYMin meet',
  });
  const bad = nights.filter((n) => n.state === 'failed').length;
  const missing = nights.filter((n) => !n.state).length;
  svg.appendChild(s('title', { id: titleId },
    `${library}: last ${nights.length} nights; ${bad} failed, ${missing} without a backup`));
  rows.forEach(([label, value, fmt], r) => {
    const y0 = r * (rowH + gap);
    const max = Math.max(...nights.map(value), 0);
    svg.appendChild(s('text', { x: 0, y: y0 + rowH - 4, class: 'axis' }, label));
    svg.appendChild(s('text', { x: left - 6, y: y0 + 11, class: 'axis max' }, max > 0 ? fmt(max) : ''));
    svg.appendChild(s('line', { x1: left, x2: width, y1: y0 + rowH, y2: y0 + rowH, class: 'base' }));
    nights.forEach((n, i) => {
      const x = left + i * colW + 1;
      const g = s('g', {});
      g.appendChild(s('title', {}, describe(n)));
      if (!n.state) {
        g.appendChild(s('rect', { x, y: y0 + rowH - 3, width: colW - 2, height: 3, class: 'bar none' }));
      } else if (n.state === 'failed') {
        g.appendChild(s('rect', { x, y: y0, width: colW - 2, height: rowH, class: 'bar failed' }));
      } else {
        const v = value(n);
        const hgt = max > 0 ? Math.max(2, (v / max) * rowH) : 2;
        g.appendChild(s('rect', { x, y: y0 + rowH - hgt, width: colW - 2, height: hgt, class: `bar ${n.state}` }));
      }
      svg.appendChild(g);
    });
  });
  const y = rows.length * (rowH + gap) + 14;
  if (nights.length) {
    svg.appendChild(s('text', { x: left, y, class: 'axis' }, day(nights[0].date)));
    svg.appendChild(s('text', { x: width, y, class: 'axis end' }, day(nights[nights.length - 1].date)));
  }
  const details = h('details', { class: 'nights-table' },
    h('summary', {}, `The ${nights.length} nights of ${library} as a table`),
    table(`Nights of ${library}`, ['Night', 'State', 'Runs', 'Duration', 'New bytes', 'Skipped', 'Error'],
      [...nights].reverse().map((n) => h('tr', {},
        h('td', {}, day(n.date)),
        h('td', {}, n.state ? badge(n.state) : 'no backup'),
        h('td', {}, String(n.runs)),
        h('td', {}, n.state ? duration(n.seconds) : '–'),
        h('td', {}, n.state ? bytes(n.bytes_read) : '–'),
        h('td', {}, n.state ? count(n.skipped) : '–'),
        h('td', {}, n.error || ''))),
      { scroll: true, hideCaption: true }));
  return h('figure', { class: 'chart' }, svg,
    h('figcaption', {}, bad ? `${bad} failed night${bad === 1 ? '' : 's'} in the last ${nights.length}` : `No failed night in the last ${nights.length}`),
    details);
}
