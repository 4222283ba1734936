// The console's entry: a hash router over four pages and the log-in form.
// Each page returns a function that stops its live streams when left.
import type { SessionView } from './api-types.js';
import { get, post } from './api.js';
import { h, replace } from './dom.js';
import { farmPage } from './farm-page.js';
import { galleryPage } from './gallery-page.js';
import { jobsPage } from './jobs-page.js';
import { loginPage } from './login-page.js';
import { submitPage } from './submit-page.js';

let leave: () => void = () => undefined;
let session: SessionView = { auth: false, loggedIn: true };

function account(): void {
  const el = document.getElementById('account');
  if (el === null) return;
  if (!session.auth || !session.loggedIn) {
    replace(el);
    return;
  }
  replace(el, h('button', {
    type: 'button', class: 'secondary',
    onclick: async () => {
      session = await post<SessionView>('/api/logout');
      account();
      location.hash = '#/login';
    },
  }, 'Log out'));
}

function route(): void {
  const main = document.getElementById('main');
  if (main === null) return;
  leave();
  const [path = '', query = ''] = location.hash.replace(/^#/, '').split('?');
  const q = new URLSearchParams(query);
  if (session.auth && !session.loggedIn && path !== '/login') {
    location.hash = '#/login';
    return;
  }
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    const target = a.getAttribute('href')?.slice(1) ?? '';
    if (path === target || (target === '/jobs' && path.startsWith('/jobs'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const job = /^\/jobs\/([a-z0-9]+)$/.exec(path);
  if (path === '/login') {
    leave = loginPage(main, (s) => {
      session = s;
      account();
      location.hash = '#/jobs';
    });
  } else if (job !== null) leave = galleryPage(main, job[1] as string);
  else if (path === '/submit') leave = submitPage(main);
  else if (path === '/farm') leave = farmPage(main);
  else if (path === '/jobs') leave = jobsPage(main, q);
  else {
    location.hash = '#/jobs';
    return;
  }
  document.title = `${main.querySelector('h1')?.textContent ?? 'Console'} · latentfarm`;
}

async function start(): Promise<void> {
  session = await get<SessionView>('/api/session');
  account();
  window.addEventListener('hashchange', route);
  route();
}

void start();
