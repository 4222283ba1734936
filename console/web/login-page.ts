// Log-in: an API key (the same keys as the gRPC API) exchanged for a session
// cookie the page never sees (HttpOnly). The key is not kept in the browser.
import type { SessionView } from './api-types.js';
import { post } from './api.js';
import { field, h, replace } from './dom.js';

export function loginPage(main: HTMLElement, done: (s: SessionView) => void): () => void {
  const key = h('input', { type: 'password', name: 'key', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { 'aria-label': 'Log in' },
    field('API key', key, 'The key you use with the latentfarm CLI or SDK'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Log in')), error);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    post<SessionView>('/api/login', { key: key.value }).then(done, (err: unknown) => {
      error.textContent = (err as Error).message;
      key.focus();
    });
  });
  replace(main, h('h1', {}, 'Log in'), form);
  key.focus();
  return () => undefined;
}
