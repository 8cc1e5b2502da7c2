// Wiring: hash routes (so any static server can serve the page, with no server-side routing), one view at a time,
// and the connection state in the header.
//   #/                 new transfer, with the run started last (kept across reloads)
//   #/history          past runs
//   #/runs/<id>        one run, live while it goes
//   #/compare/<a>/<b>  two runs side by side
import './style.css';
import { connection, type ConnectionState } from './api.ts';
import { keyLabel, onKeyChange, signOut } from './auth.ts';
import { CompareView } from './compare.ts';
import { h, replace } from './dom.ts';
import { HistoryView } from './history.ts';
import { RunView } from './run-view.ts';
import { TransferForm } from './transfer-form.ts';

interface View {
  element: HTMLElement;
  dispose(): void;
}

const app = document.querySelector<HTMLElement>('#app')!;
const LAST_RUN = 'gramian.lastRun';
let current: View | null = null;

/** The form beside the run it started: the run panel is a plain RunView, swapped when a new run starts. */
function newTransferView(): View {
  const panel = h('div', { class: 'run-panel' });
  let run: RunView | null = null;
  const show = (runId: string | null) => {
    run?.dispose();
    run = runId ? new RunView(runId) : null;
    replace(
      panel,
      run
        ? run.element
        : h(
            'div',
            { class: 'card placeholder-panel' },
            h('p', { class: 'muted' }, 'Pick a content image and a style, then start: the run appears here, live.'),
          ),
    );
  };
  const form = new TransferForm((runId) => {
    localStorage.setItem(LAST_RUN, runId);
    show(runId);
  });
  show(localStorage.getItem(LAST_RUN));
  return {
    element: h('div', { class: 'new-transfer' }, form.element, panel),
    dispose: () => {
      form.dispose();
      run?.dispose();
    },
  };
}

function route(): View {
  const [, name, ...args] = location.hash.replace(/^#/, '').split('/').map(decodeURIComponent);
  if (name === 'history') return new HistoryView();
  if (name === 'runs' && args[0]) {
    const run = new RunView(args[0]);
    return {
      element: h('div', {}, h('a', { class: 'back', href: '#/history' }, '← History'), run.element),
      dispose: () => run.dispose(),
    };
  }
  if (name === 'compare' && args[0] && args[1]) return new CompareView([args[0], args[1]]);
  return newTransferView();
}

function render(): void {
  current?.dispose();
  current = route();
  replace(app, current.element);
  const active =
    location.hash.startsWith('#/history') || location.hash.startsWith('#/runs') || location.hash.startsWith('#/compare')
      ? 'history'
      : 'new';
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a[data-route]'))
    link.classList.toggle('active', link.dataset.route === active);
}

const indicator = document.querySelector<HTMLElement>('#connection')!;
const LABELS: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  connected: 'live',
  reconnecting: 'reconnecting…',
};
const showConnection = (state: ConnectionState) => {
  indicator.dataset.state = state;
  indicator.textContent = LABELS[state];
};
connection.onChange(showConnection);
showConnection(connection.state);

// The key in use, where the server asked for one, and the way to give another.
const account = document.querySelector<HTMLElement>('#account')!;
const showAccount = () => {
  const label = keyLabel();
  account.hidden = !label;
  replace(
    account,
    label && h('span', { class: 'key-label', title: 'The API key this page sends' }, label),
    label && h('button', { type: 'button', class: 'sign-out', onclick: signOut }, 'Sign out'),
  );
};
onKeyChange(showAccount);
showAccount();

window.addEventListener('hashchange', render);
render();
