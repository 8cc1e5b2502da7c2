// The README's "Try it in GraphiQL" walkthrough, done as a newcomer does it: the images POSTed as with curl, then each
// operation of its GraphQL block pasted in turn with the ids it asks for, against a real server. The first run it
// shows must finish, every event must show something, and the error codes the README names are the ones sent.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Kind, parse, print, visit, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_PRESETS } from '../src/domain/presets.js';
import { REQUEST_ERROR_CODES } from '../src/errors.js';
import { gql, startTestServer, subscribeAll, wsClient, type TestServer } from './helpers/server.js';
import { REPO_ROOT, contentImage, readShared, styleImage } from './helpers/shared.js';

const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
const section = (title: string) =>
  readme.slice(readme.indexOf(`## ${title}`), readme.indexOf('\n## ', readme.indexOf(`## ${title}`) + 3));
const walkthrough = section('Try it in GraphiQL');
const operations = parse(/```graphql\n([\s\S]*?)```/.exec(walkthrough)![1]!).definitions.filter(
  (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
);

/** The operation whose first field is `field`, with each placeholder id replaced by the value for its argument. */
function paste(field: string, ids: Record<string, string>): string {
  const operation = operations.find((o) =>
    o.selectionSet.selections.some((s) => s.kind === Kind.FIELD && s.name.value === field),
  );
  if (!operation) throw new Error(`the walkthrough has no ${field} operation`);
  const filled = visit(operation, {
    ObjectField: (node) =>
      node.value.kind === Kind.STRING && ids[node.name.value]
        ? { ...node, value: { ...node.value, value: ids[node.name.value]! } }
        : undefined,
    Argument: (node) =>
      node.value.kind === Kind.STRING && ids[node.name.value]
        ? { ...node, value: { ...node.value, value: ids[node.name.value]! } }
        : undefined,
  });
  const text = print(filled);
  expect(text, `every id in ${field} is filled in`).not.toContain('…');
  return text;
}

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server.stop();
});

/** The headers the walkthrough's `curl -s -H '…' --data-binary @file http://…/images` lines send. */
const curlLine = /^curl .*--data-binary .*\/images$/m.exec(walkthrough)?.[0] ?? '';
const curlHeaders = Object.fromEntries(
  [...curlLine.matchAll(/-H '([^:']+):\s*([^']*)'/g)].map(([, name, value]) => [name!.toLowerCase(), value!]),
);

/** What those curl lines answer: curl sends a --data-binary body as a form unless told otherwise. */
async function postImage(bytes: Uint8Array): Promise<{ id: string; sha256: string }> {
  const response = await fetch(`${server.url}/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...curlHeaders },
    body: new Blob([new Uint8Array(bytes)]),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; sha256: string };
}

describe('README walkthrough', () => {
  it('runs as written: a style, the presets, a first run small enough to finish, and its events', async () => {
    const styleImageId = (await postImage(await readShared(styleImage('the_scream.jpg')))).id;
    // The README says the sha256 works as well as the id: the content goes by its sha256.
    const content = await postImage(await readShared(contentImage('golden_gate.jpg')));

    const style = await gql(server.url, paste('uploadStyle', { imageId: styleImageId }));
    const styleId = style.data!.uploadStyle.id as string;
    expect(styleId).toBeTruthy();

    const presets = (await gql(server.url, paste('presets', {}))).data!.presets as Record<string, any>[];
    expect(presets.map((p) => p.name)).toEqual([
      'Balanced',
      'Fast mosaic',
      'High quality (multiscale)',
      'Quick preview',
    ]);
    // Each preset shows what its runs would use, whatever its engine.
    for (const preset of presets) expect(preset.effectiveParams ?? preset.effectiveFastParams).not.toBeNull();
    const presetId = presets.find((p) => p.name === 'Quick preview')!.id as string;

    const started = await gql(
      server.url,
      paste('startTransfer', { contentImageId: content.sha256, styleId, presetId }),
    );
    const run = started.data!.startTransfer;
    expect(['QUEUED', 'RUNNING']).toContain(run.status);
    expect(run.totalSteps).toBeLessThanOrEqual(50);

    const events = (await subscribeAll(wsClient(server.url), paste('runEvents', { runId: run.id }), {})).map((r) => {
      expect(r.errors).toBeUndefined();
      return r.data!.runEvents as Record<string, unknown>;
    });
    expect(events[0]!.__typename).toBe('RunSnapshot');
    expect(events.at(-1)).toMatchObject({ __typename: 'RunEnded', status: 'SUCCEEDED', run: { error: null } });
    expect(events.filter((e) => e.__typename === 'RunStepAdded')).toHaveLength(run.totalSteps);
    // Every kind of event the run sent shows more than its type name.
    for (const event of events)
      expect(
        Object.keys(event).filter((key) => key !== '__typename'),
        String(event.__typename),
      ).not.toEqual([]);
    expect(new Set(events.map((e) => e.__typename))).toEqual(
      new Set(['RunSnapshot', 'RunStatusChanged', 'RunStepAdded', 'RunPreviewAdded', 'RunEnded']),
    );
  });

  it('counts and names the built-in presets the server seeds', () => {
    const bullet = /- \*\*Presets\.\*\* (\w+) built-ins[\s\S]*?\n- /.exec(section('Server'))!;
    const counts = ['One', 'Two', 'Three', 'Four', 'Five', 'Six', 'Seven', 'Eight'];
    expect(bullet[1]).toBe(counts[BUILT_IN_PRESETS.length - 1]);
    for (const preset of BUILT_IN_PRESETS) expect(bullet[0]).toContain(`*${preset.name}*`);
  });

  it('names the codes the server sends for a query that does not parse or does not validate', async () => {
    const errors = section('Server');
    const notParsed = await gql(server.url, '{ presets { name ');
    const notValid = await gql(server.url, '{ presets { colour } }');
    for (const answer of [notParsed, notValid]) {
      const code = answer.errors![0]!.extensions!.code as string;
      expect(errors).toContain(`\`${code}\``);
    }
    // And every top-level code the server can send is explained there.
    for (const code of REQUEST_ERROR_CODES) expect(errors).toContain(`\`${code}\``);
  });
});
