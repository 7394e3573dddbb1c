// Sign-in: the operator pastes the API token once; it is checked against the daemon and kept
// in this tab's sessionStorage. Afterwards the console returns to where the operator was.

import { api, setToken, forgetToken } from '../api.js';
import { h, fill, field, showFieldError, clearErrors } from '../ui.js';

const REASONS = {
  ended: 'Your session ended: the daemon no longer accepts the token this tab had (it was changed, or the daemon restarted with a new one). Sign in again to go back where you were.',
  'signed-out': 'You are signed out.',
};

function safeNext(next) {
  // Only places inside the console.
  return next && /^#\/[a-z]/.test(next) && !next.startsWith('#/signin') ? next : '#/dashboard';
}

export async function render(main, ctx) {
  ctx.title('Sign in');
  forgetToken();
  const next = safeNext(ctx.params.get('next'));
  const reason = REASONS[ctx.params.get('reason')];
  const tokenField = field({
    label: 'API token',
    name: 'token',
    type: 'password',
    required: true,
    autocomplete: 'current-password',
    hint: 'The token in the file that [api] token_file names on the daemon\'s host. It stays in this browser tab only.',
  });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'signin', novalidate: true },
    h('p', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true }),
    tokenField.wrap,
    h('div', { class: 'actions' }, button));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const t = tokenField.input.value.trim();
    if (!t) {
      showFieldError(form, 'token', 'Enter the API token.');
      return;
    }
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      await api('/libraries', { tokenOverride: t });
      setToken(t);
      tokenField.input.value = '';
      ctx.navigate(next);
    } catch (e) {
      if (e.status === 401) {
        showFieldError(form, 'token', 'The daemon refused this token. Check it against [api] token_file on the daemon\'s host.');
      } else if (e.status === 0) {
        showFieldError(form, null, 'The daemon is not answering. Is imvault serve running, and is this the address of its API?');
      } else {
        showFieldError(form, null, e.message);
      }
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
  fill(main,
    h('div', { class: 'narrow' },
      h('h1', {}, 'Sign in to imvault'),
      reason ? h('p', { class: 'notice n-warn', role: 'status' }, reason) : null,
      form));
  tokenField.input.focus();
}
