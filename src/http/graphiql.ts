// GraphiQL as the package renders it (offline: nothing from a CDN), with one thing added before it starts: where the
// server needs credentials, a small form asks for an API key, which then goes with every request (Authorization) and
// on the graphql-ws socket (connectionParams.authorization). Whether a key is needed is the server's own answer to
// `{ __typename }`: 401 (UNAUTHENTICATED) asks for one, and again when the key given is refused. The key is kept in
// localStorage under the same name as the web page's, so signing in on either serves both; "Sign out" forgets it.
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphiQLOptions } from 'graphql-yoga';
import { CSRF_HEADER } from './cross-origin.js';

/** The call that starts GraphiQL in the package's page; ours runs first and then makes it. */
const START = 'YogaGraphiQL.renderYogaGraphiQL(';

/** Plain browser JavaScript, run before GraphiQL; `gramianGraphiQL(root, options)` takes the place of START. */
const KEY_PROMPT = `<style>
.gramian-key{position:fixed;inset:0;z-index:1000;display:grid;place-items:center;background:rgba(0,0,0,.45);
font:15px/1.5 system-ui,sans-serif}
.gramian-key form{background:#fff;color:#222;padding:1.5rem;border-radius:8px;width:min(28rem,90vw);
box-shadow:0 8px 30px rgba(0,0,0,.3)}
.gramian-key h2{margin:0 0 .5rem;font-size:1.2rem}
.gramian-key input{width:100%;box-sizing:border-box;margin:.5rem 0 1rem;padding:.5rem;font:inherit}
.gramian-sign-out{position:fixed;right:.75rem;bottom:.75rem;z-index:1000;font:13px system-ui,sans-serif}
</style>
<script>
(() => {
  const STORAGE = 'gramian.apiKey';
  const bearer = (key) => (/^bearer\\s/i.test(key) ? key : 'Bearer ' + key);

  // false only when the server refuses the request for its credentials (none, or these).
  async function accepted(endpoint, key) {
    const headers = { 'content-type': 'application/json', '${CSRF_HEADER}': '1' };
    if (key) headers.authorization = bearer(key);
    try {
      const body = JSON.stringify({ query: '{ __typename }' });
      return (await fetch(endpoint, { method: 'POST', headers, body })).status !== 401;
    } catch {
      return true; // unreachable: GraphiQL says so itself
    }
  }

  function ask(reason) {
    return new Promise((resolve) => {
      const overlay = document.createElement('div');
      overlay.className = 'gramian-key';
      overlay.dataset.reason = reason;
      overlay.innerHTML =
        '<form><h2>API key</h2><p></p>' +
        '<input name="api-key" type="password" autocomplete="off" placeholder="gmn_…" required>' +
        '<button type="submit">Use key</button></form>';
      overlay.querySelector('p').textContent =
        reason === 'refused'
          ? 'The server refused that key (revoked, expired or mistyped). Enter another.'
          : 'This server needs an API key (or a token from its identity provider). Its admin creates keys with ' +
            'gramian keys create.';
      const input = overlay.querySelector('input');
      overlay.querySelector('form').addEventListener('submit', (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        overlay.remove();
        resolve(key);
      });
      document.body.append(overlay);
      input.focus();
    });
  }

  function signOutButton() {
    const button = document.createElement('button');
    button.className = 'gramian-sign-out';
    button.type = 'button';
    button.textContent = 'Sign out';
    button.title = 'Forget the API key kept in this browser';
    button.addEventListener('click', () => {
      localStorage.removeItem(STORAGE);
      location.reload();
    });
    document.body.append(button);
  }

  window.gramianGraphiQL = async (root, options) => {
    const endpoint = new URL(options.endpoint || location.pathname, location.href).href;
    let key = localStorage.getItem(STORAGE) || '';
    while (!(await accepted(endpoint, key))) key = await ask(key ? 'refused' : 'required');
    const settings = { ...options };
    if (key) {
      localStorage.setItem(STORAGE, key);
      settings.additionalHeaders = { ...options.additionalHeaders, authorization: bearer(key) };
      settings.connectionParams = { ...options.connectionParams, authorization: bearer(key) };
      signOutButton();
    }
    YogaGraphiQL.renderYogaGraphiQL(root, settings);
  };
})();
</script>
`;

/** The package's page with the key prompt; fails loudly if a new version of the package starts GraphiQL otherwise. */
export function renderGramianGraphiQL(options?: GraphiQLOptions): string {
  const page = renderGraphiQL(options);
  const start = page.indexOf(START);
  const head = page.indexOf('</head>');
  if (start < 0 || page.indexOf(START, start + 1) >= 0 || head < 0 || head > start)
    throw new Error(`@graphql-yoga/render-graphiql no longer starts GraphiQL with one ${START}…): see graphiql.ts`);
  return (
    page.slice(0, head) + KEY_PROMPT + page.slice(head, start) + 'gramianGraphiQL(' + page.slice(start + START.length)
  );
}
