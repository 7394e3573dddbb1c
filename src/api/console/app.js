// The console's shell: hash routes (the page's place lives in the URL's #fragment, never the
// token), the sign-in guard, the "daemon not answering" banner, and polling that stops when
// the page changes or the tab is hidden.

import { on, token, forgetToken } from './api.js';
import { h, fill } from './ui.js';
import * as signin from './pages/signin.js';
import * as dashboard from './pages/dashboard.js';
import * as jobs from './pages/jobs.js';
import * as job from './pages/job.js';
import * as browse from './pages/browse.js';
import * as documentPage from './pages/document.js';
import * as search from './pages/search.js';
import * as restore from './pages/restore.js';

const routes = [
  [/^signin$/, signin, null],
  [/^dashboard$/, dashboard, 'dashboard'],
  [/^jobs$/, jobs, 'jobs'],
  [/^jobs\/([^/]+)$/, job, 'jobs'],
  [/^browse$/, browse, 'browse'],
  [/^documents\/([^/]+)$/, documentPage, 'browse'],
  [/^search$/, search, 'search'],
  [/^restore$/, restore, 'browse'],
];

// Content-Security-Policy violations are reported (and kept for the browser test): the
// console is written to need none.
window.imvaultCspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.imvaultCspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`);
  console.error('Content-Security-Policy violation', e.violatedDirective, e.blockedURI);
});

const main = document.getElementById('main');
const banner = document.getElementById('banner');
let cleanups = [];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q] = raw.split('?');
  return { path: decodeURIComponent(path || ''), params: new URLSearchParams(q || '') };
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

// Rewrites the current page's query in the URL (filters, selections) without re-rendering,
// so a reload or a new sign-in comes back to the same place.
function setQuery(params) {
  const { path } = parseHash();
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  history.replaceState(null, '', `#/${path}${s ? `?${s}` : ''}`);
}

function stopAll() {
  for (const c of cleanups) c();
  cleanups = [];
}

// Runs `f` every `ms` while this page shows and the tab is visible.
function every(ms, f) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await f();
      } catch (e) {
        if (e.status !== 0 && e.status !== 401) console.warn(e);
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  cleanups.push(() => {
    stopped = true;
    clearTimeout(timer);
  });
}

function signinHash(reason) {
  const here = location.hash && !location.hash.startsWith('#/signin') ? location.hash : '#/dashboard';
  const q = new URLSearchParams({ next: here });
  if (reason) q.set('reason', reason);
  return `#/signin?${q}`;
}

function setNav(active, signedIn) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('signout').hidden = !signedIn;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function render() {
  stopAll();
  const { path, params } = parseHash();
  const route = routes.find(([re]) => re.test(path));
  if (!route) {
    navigate(token() ? '#/dashboard' : '#/signin');
    return;
  }
  const [re, page, nav] = route;
  if (page !== signin && !token()) {
    location.replace(signinHash());
    return;
  }
  setNav(nav, page !== signin);
  const match = path.match(re);
  const ctx = {
    params,
    arg: match[1] ? decodeURIComponent(match[1]) : null,
    navigate,
    setQuery,
    every,
    onLeave: (f) => cleanups.push(f),
    title(t) {
      document.title = `${t} – imvault`;
    },
  };
  fill(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    await page.render(main, ctx);
  } catch (e) {
    if (e.status === 401) return;
    fill(main, h('h1', { tabindex: '-1' }, 'Something went wrong'),
      h('p', { class: 'notice n-error', role: 'alert' }, e.message || String(e)));
  }
  const h1 = main.querySelector('h1');
  const keep = document.activeElement && document.activeElement !== main && main.contains(document.activeElement);
  if (h1 && !keep) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: false });
  }
}

on('unauthorized', () => {
  // The token no longer works (rotated, or a daemon restarted with a new one): back to
  // sign-in, remembering where the operator was.
  forgetToken();
  stopAll();
  location.replace(signinHash('ended'));
});

on('unreachable', () => {
  banner.textContent = 'The daemon is not answering (stopped or restarting). Retrying…';
  banner.hidden = false;
});

on('reachable', () => {
  banner.hidden = true;
  banner.textContent = '';
});

document.getElementById('signout').addEventListener('click', () => {
  forgetToken();
  stopAll();
  location.hash = '#/signin?reason=signed-out';
});

window.addEventListener('hashchange', render);
render();
