// The API key, where the server needs one. Nothing is asked up front: the first request the server refuses for want
// of credentials (HTTP 401, or the socket closed with 4403) opens a small form, every refused request waits for it
// and is sent again, and so is one refused later (a key revoked or expired). The key is kept in localStorage, under
// the name GraphiQL on the same server uses too, and goes as `Authorization: Bearer <key>` on every request and as
// connectionParams.authorization on the socket. Image URLs from the API are signed: an <img> needs no header.
import { h } from './dom.ts';

const STORAGE = 'gramian.apiKey';

/** The Authorization header value, when a key is kept. */
export function authorization(): string | undefined {
  const key = localStorage.getItem(STORAGE);
  if (!key) return undefined;
  return /^bearer\s/i.test(key) ? key : `Bearer ${key}`;
}

/** How the key is shown: an API key by the prefix `gramian keys list` shows, a token as such. */
export function keyLabel(): string | undefined {
  const key = localStorage.getItem(STORAGE)?.replace(/^bearer\s+/i, '');
  if (!key) return undefined;
  return key.startsWith('gmn_') ? `key ${key.slice(0, 12)}…` : 'token';
}

const listeners = new Set<() => void>();

/** Called whenever a key is given; returns the unsubscribe function. */
export function onKeyChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Forgets the key and starts over: the next refused request asks again. */
export function signOut(): void {
  localStorage.removeItem(STORAGE);
  location.reload();
}

let asking: Promise<void> | null = null;

/**
 * Called when the server refused a request sent with `sentWith` (undefined: no key): resolves once there is another
 * key to try. One form for every request refused meanwhile; none at all when a key was given since that request left.
 */
export function askForKey(sentWith: string | undefined): Promise<void> {
  if (authorization() !== sentWith) return Promise.resolve();
  asking ??= showForm(sentWith ? 'refused' : 'required').finally(() => (asking = null));
  return asking;
}

function showForm(reason: 'required' | 'refused'): Promise<void> {
  return new Promise((resolve) => {
    const input = h('input', {
      name: 'api-key',
      type: 'password',
      autocomplete: 'off',
      placeholder: 'gmn_…',
      required: true,
    });
    const message =
      reason === 'refused'
        ? ['The server refused that key: it may have been revoked or have expired, or be mistyped. Enter another.']
        : [
            'This server needs an API key (or a token from its identity provider). Its admin creates keys with ',
            h('code', {}, 'gramian keys create'),
            '.',
          ];
    const form = h(
      'form',
      { class: 'key-form', method: 'dialog' },
      h('h2', {}, 'API key'),
      h('p', { class: 'muted' }, ...message),
      input,
      h('button', { type: 'submit', class: 'primary' }, 'Use key'),
    );
    const dialog = h('dialog', { class: 'key-dialog', dataset: { reason } }, form);
    // Not dismissible: the page can do nothing without a key.
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      localStorage.setItem(STORAGE, key);
      dialog.close();
      dialog.remove();
      for (const listener of listeners) listener();
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
