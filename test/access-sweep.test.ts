// Every query, mutation and subscription, asked by each kind of caller — no credentials, a scope too small, another
// owner, the owner, an admin — over HTTP and over graphql-ws, each with the answer it must get. Credentials are
// required (GRAMIAN_AUTH=keys) although the server listens on loopback.
import { cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerKey, gql, gqlUpload, startTestServer, until, wsClient, type TestServer } from './helpers/server.js';
import { startIdentityProvider, type IdentityProvider } from './helpers/identity-provider.js';
import { SHARED_MODELS, contentImage, readShared, styleImage } from './helpers/shared.js';

type Who = 'no credentials' | 'a scope too small' | 'another owner' | 'the owner' | 'an admin';
type Outcome = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'OK';
type Scope = 'read' | 'run' | 'manage' | 'admin';
type Transport = 'http' | 'ws';

interface Request {
  query: string;
  variables?: Record<string, unknown>;
}

interface Operation {
  name: string;
  kind: 'query' | 'mutation' | 'subscription';
  /** The scope it needs; a caller without it is FORBIDDEN. */
  needs: Scope;
  /** The request, with a fresh fixture of alice's made first where the operation uses one up. */
  prepare(): Request | Promise<Request>;
  /** What an answer's `data` says: success, or alice's object not found (null, NotFoundError, absent from a list). */
  judge(data: Record<string, any>): 'OK' | 'NOT_FOUND';
  /** What another owner gets (default NOT_FOUND: alice's objects do not exist for bob). */
  otherOwner?: Outcome;
  /** Undoes what a refused request left in place (a run still running), so the next case starts clean. */
  cleanup?(request: Request): Promise<unknown>;
  /** Asks in its own way (a subscription that must see something happen), instead of one request. */
  custom?(transport: Transport, authorization: string | undefined): Promise<Answer>;
}

let server: TestServer;
let idp: IdentityProvider;
const as: Record<string, string> = {};
let fixtures: { styleId: string; styleImageId: string; presetId: string; runId: string; modelId: string };
let counter = 0;
const unique = (prefix: string) => `${prefix} ${++counter}`;

const ALICE = 'alice';

async function aliceUploadsStyle(): Promise<{ id: string; imageId: string }> {
  const answer = await gqlUpload(
    server.url,
    `mutation ($input: UploadStyleInput!) { uploadStyle(input: $input) { ... on Style { id image { id } } } }`,
    { input: { name: unique('alice style'), image: null } },
    { 'input.image': { bytes: await readShared(styleImage('the_scream.jpg')) } },
    { authorization: as.owner },
  );
  return { id: answer.data!.uploadStyle.id, imageId: answer.data!.uploadStyle.image.id };
}

async function alicePreset(): Promise<string> {
  const answer = await gql(
    server.url,
    `mutation ($input: CreatePresetInput!) { createPreset(input: $input) { ... on Preset { id } } }`,
    { input: { name: unique('alice preset'), params: { size: 64, steps: 2 } } },
    { authorization: as.owner },
  );
  return answer.data!.createPreset.id;
}

/** A run of alice's: a quick fast pass, finished; or a long Gatys run, running (to be canceled). */
async function aliceRun(state: 'finished' | 'running'): Promise<string> {
  const input =
    state === 'finished'
      ? { contentImageId: fixtures.styleImageId, fastParams: { styleModel: 'mosaic', size: 32 } }
      : {
          contentImageId: fixtures.styleImageId,
          styles: [{ styleId: fixtures.styleId }],
          params: { size: 64, steps: 2000 },
        };
  const answer = await gql(
    server.url,
    `mutation ($input: StartTransferInput!) {
      startTransfer(input: $input) { ... on Run { id } ... on Error { code message } }
    }`,
    { input },
    { authorization: as.owner },
  );
  const id = answer.data!.startTransfer.id as string;
  const wanted = state === 'finished' ? ['SUCCEEDED'] : ['RUNNING'];
  await until(
    async () =>
      (await gql(server.url, `query ($id: ID!) { run(id: $id) { status } }`, { id }, { authorization: as.owner })).data!
        .run.status as string,
    (status) => wanted.includes(status),
    `alice's run ${state}`,
  );
  return id;
}

/** A style model of alice's: a copy of a catalogue network, as an import by alice's owner would leave it. */
async function aliceModel(): Promise<string> {
  const { db, styleModels } = server.services;
  const folder = unique('alice-model').replace(' ', '-');
  await mkdir(path.join(styleModels.modelsDir, folder), { recursive: true });
  for (const file of ['candy9.param', 'candy9.bin']) {
    await cp(path.join(SHARED_MODELS, 'pytorch-fns-ncnn-fp16', file), path.join(styleModels.modelsDir, folder, file));
  }
  const model = await db.styleModel.create({
    data: {
      name: folder,
      owner: ALICE,
      architecture: 'pytorch',
      format: 'ncnn',
      source: 'import',
      location: `${folder}/candy9.param`,
    },
  });
  return Buffer.from(`StyleModel:${model.id}`).toString('base64');
}

const has = (list: { id: string }[] | undefined, id: string) =>
  list?.some((item) => item.id === id) ? 'OK' : 'NOT_FOUND';
const typed = (result: { __typename?: string } | null | undefined, success: string) =>
  result?.__typename === success ? 'OK' : 'NOT_FOUND';

const OPERATIONS: Operation[] = [
  {
    name: 'engine',
    kind: 'query',
    needs: 'read',
    prepare: () => ({ query: `{ engine { backend workers } }` }),
    judge: (data) => (data.engine?.workers === 1 ? 'OK' : 'NOT_FOUND'),
    otherOwner: 'OK',
  },
  {
    name: 'styles',
    kind: 'query',
    needs: 'read',
    prepare: () => ({ query: `{ styles { id } }` }),
    judge: (data) => has(data.styles, fixtures.styleId),
  },
  {
    name: 'style',
    kind: 'query',
    needs: 'read',
    prepare: () => ({ query: `query ($id: ID!) { style(id: $id) { id } }`, variables: { id: fixtures.styleId } }),
    judge: (data) => (data.style ? 'OK' : 'NOT_FOUND'),
  },
  {
    name: 'presets',
    kind: 'query',
    needs: 'read',
    prepare: () => ({ query: `{ presets { id } }` }),
    judge: (data) => has(data.presets, fixtures.presetId),
  },
  {
    name: 'preset',
    kind: 'query',
    needs: 'read',
    prepare: () => ({
      query: `query ($id: ID!) { preset(id: $id) { id } }`,
      variables: { id: fixtures.presetId },
    }),
    judge: (data) => (data.preset ? 'OK' : 'NOT_FOUND'),
  },
  {
    name: 'runs (and totalCount)',
    kind: 'query',
    needs: 'read',
    prepare: () => ({ query: `{ runs(first: 100) { totalCount edges { node { id } } } }` }),
    judge: (data) =>
      data.runs &&
      data.runs.totalCount > 0 &&
      has(
        data.runs.edges.map((e: { node: { id: string } }) => e.node),
        fixtures.runId,
      ) === 'OK'
        ? 'OK'
        : 'NOT_FOUND',
  },
  {
    name: 'run',
    kind: 'query',
    needs: 'read',
    prepare: () => ({ query: `query ($id: ID!) { run(id: $id) { id } }`, variables: { id: fixtures.runId } }),
    judge: (data) => (data.run ? 'OK' : 'NOT_FOUND'),
  },
  {
    name: 'styleModels',
    kind: 'query',
    needs: 'read',
    prepare: () => ({ query: `{ styleModels { id } }` }),
    judge: (data) => has(data.styleModels, fixtures.modelId),
  },
  {
    name: 'styleModel',
    kind: 'query',
    needs: 'read',
    prepare: () => ({
      query: `query ($id: ID!) { styleModel(id: $id) { id } }`,
      variables: { id: fixtures.modelId },
    }),
    judge: (data) => (data.styleModel ? 'OK' : 'NOT_FOUND'),
  },
  {
    name: 'node',
    kind: 'query',
    needs: 'read',
    prepare: () => ({ query: `query ($id: ID!) { node(id: $id) { id } }`, variables: { id: fixtures.runId } }),
    judge: (data) => (data.node ? 'OK' : 'NOT_FOUND'),
  },
  {
    name: 'nodes',
    kind: 'query',
    needs: 'read',
    prepare: () => ({
      query: `query ($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
      variables: { ids: [fixtures.styleId, fixtures.styleImageId] },
    }),
    judge: (data) => (data.nodes?.every((node: unknown) => node !== null) ? 'OK' : 'NOT_FOUND'),
  },
  {
    name: 'uploadStyle (from an image of alice)',
    kind: 'mutation',
    needs: 'manage',
    prepare: () => ({
      query: `mutation ($input: UploadStyleInput!) { uploadStyle(input: $input) { __typename } }`,
      variables: { input: { name: unique('style'), imageId: fixtures.styleImageId } },
    }),
    judge: (data) => typed(data.uploadStyle, 'Style'),
  },
  {
    name: 'deleteStyle',
    kind: 'mutation',
    needs: 'manage',
    prepare: async () => ({
      query: `mutation ($id: ID!) { deleteStyle(id: $id) { __typename } }`,
      variables: { id: (await aliceUploadsStyle()).id },
    }),
    judge: (data) => typed(data.deleteStyle, 'Deleted'),
  },
  {
    name: 'createPreset (naming a model of alice)',
    kind: 'mutation',
    needs: 'manage',
    prepare: async () => {
      const model = await server.services.db.styleModel.findFirstOrThrow({ where: { owner: ALICE } });
      return {
        query: `mutation ($input: CreatePresetInput!) { createPreset(input: $input) { __typename } }`,
        variables: { input: { name: unique('preset'), engine: 'FAST', fastParams: { styleModel: model.name } } },
      };
    },
    judge: (data) => typed(data.createPreset, 'Preset'),
  },
  {
    name: 'updatePreset',
    kind: 'mutation',
    needs: 'manage',
    prepare: async () => ({
      query: `mutation ($id: ID!, $input: UpdatePresetInput!) { updatePreset(id: $id, input: $input) { __typename } }`,
      variables: { id: await alicePreset(), input: { name: unique('renamed') } },
    }),
    judge: (data) => typed(data.updatePreset, 'Preset'),
  },
  {
    name: 'deletePreset',
    kind: 'mutation',
    needs: 'manage',
    prepare: async () => ({
      query: `mutation ($id: ID!) { deletePreset(id: $id) { __typename } }`,
      variables: { id: await alicePreset() },
    }),
    judge: (data) => typed(data.deletePreset, 'Deleted'),
  },
  {
    name: 'restoreBuiltInPresets',
    kind: 'mutation',
    needs: 'admin',
    prepare: () => ({ query: `mutation { restoreBuiltInPresets { id } }` }),
    judge: (data) => (data.restoreBuiltInPresets?.length === 4 ? 'OK' : 'NOT_FOUND'),
    otherOwner: 'FORBIDDEN',
  },
  {
    name: 'startTransfer (with a style of alice)',
    kind: 'mutation',
    needs: 'run',
    prepare: () => ({
      query: `mutation ($input: StartTransferInput!) { startTransfer(input: $input) { __typename } }`,
      variables: {
        input: {
          contentImageId: fixtures.styleImageId,
          styles: [{ styleId: fixtures.styleId }],
          params: { size: 32, steps: 1 },
        },
      },
    }),
    judge: (data) => typed(data.startTransfer, 'Run'),
  },
  {
    name: 'cancelRun',
    kind: 'mutation',
    needs: 'run',
    prepare: async () => ({
      query: `mutation ($id: ID!) { cancelRun(id: $id) { __typename ... on Run { status } } }`,
      variables: { id: await aliceRun('running') },
    }),
    judge: (data) => (data.cancelRun?.status === 'CANCELED' ? 'OK' : 'NOT_FOUND'),
    cleanup: (request) =>
      gql(server.url, `mutation ($id: ID!) { cancelRun(id: $id) { __typename } }`, request.variables, {
        authorization: as.owner,
      }),
  },
  {
    name: 'deleteRun',
    kind: 'mutation',
    needs: 'run',
    prepare: async () => ({
      query: `mutation ($id: ID!) { deleteRun(id: $id) { __typename } }`,
      variables: { id: await aliceRun('finished') },
    }),
    judge: (data) => typed(data.deleteRun, 'DeletedRun'),
  },
  {
    name: 'storage',
    kind: 'query',
    needs: 'admin',
    prepare: () => ({ query: `{ storage { images runs } }` }),
    judge: (data) => (data.storage?.runs > 0 ? 'OK' : 'NOT_FOUND'),
    otherOwner: 'FORBIDDEN',
  },
  {
    name: 'importStyleModel',
    kind: 'mutation',
    needs: 'admin',
    prepare: () => ({
      query: `mutation ($input: ImportStyleModelInput!) { importStyleModel(input: $input) { __typename } }`,
      variables: { input: { name: unique('imported'), path: 'pytorch-fns-ncnn-fp16/candy9.param' } },
    }),
    judge: (data) => typed(data.importStyleModel, 'StyleModel'),
    otherOwner: 'FORBIDDEN',
  },
  {
    name: 'prepareStyleModel',
    kind: 'mutation',
    needs: 'manage',
    prepare: () => ({
      query: `mutation ($id: ID!) { prepareStyleModel(id: $id) { __typename } }`,
      variables: { id: fixtures.modelId },
    }),
    judge: (data) => typed(data.prepareStyleModel, 'StyleModel'),
  },
  {
    name: 'updateStyleModel',
    kind: 'mutation',
    needs: 'manage',
    prepare: () => ({
      query: `mutation ($id: ID!, $input: UpdateStyleModelInput!) {
        updateStyleModel(id: $id, input: $input) { __typename }
      }`,
      variables: { id: fixtures.modelId, input: { styleImageId: fixtures.styleImageId } },
    }),
    judge: (data) => typed(data.updateStyleModel, 'StyleModel'),
  },
  {
    name: 'deleteStyleModel',
    kind: 'mutation',
    needs: 'manage',
    prepare: async () => ({
      query: `mutation ($id: ID!) { deleteStyleModel(id: $id) { __typename } }`,
      variables: { id: await aliceModel() },
    }),
    judge: (data) => typed(data.deleteStyleModel, 'Deleted'),
  },
  {
    name: 'runsChanged (while alice runs a transfer)',
    kind: 'subscription',
    needs: 'read',
    prepare: () => ({ query: `subscription { runsChanged { status run { id } } }` }),
    judge: (data) => (data.seen ? 'OK' : 'NOT_FOUND'),
    custom: (transport, authorization) => watchRunsChanged(transport, authorization),
  },
  {
    name: 'runEvents',
    kind: 'subscription',
    needs: 'read',
    prepare: () => ({
      query: `subscription ($runId: ID!) { runEvents(runId: $runId) { __typename } }`,
      variables: { runId: fixtures.runId },
    }),
    judge: (data) => (data.runEvents?.__typename === 'RunSnapshot' ? 'OK' : 'NOT_FOUND'),
  },
];

/** The scope a caller lacks for an operation that needs `scope`: every key has read, so a token stands in. */
const TOO_SMALL: Record<Scope, string> = { read: 'noScope', run: 'manageOnly', manage: 'runOnly', admin: 'nonAdmin' };

function credentialsOf(who: Who, operation: Operation): string | undefined {
  switch (who) {
    case 'no credentials':
      return undefined;
    case 'a scope too small':
      return as[TOO_SMALL[operation.needs]];
    case 'another owner':
      return as.other;
    case 'the owner':
      return as.owner;
    case 'an admin':
      return as.admin;
  }
}

function expected(who: Who, operation: Operation): Outcome {
  switch (who) {
    case 'no credentials':
      return 'UNAUTHENTICATED';
    case 'a scope too small':
      return 'FORBIDDEN';
    case 'another owner':
      return operation.otherOwner ?? 'NOT_FOUND';
    case 'the owner':
      return operation.needs === 'admin' ? 'FORBIDDEN' : 'OK';
    case 'an admin':
      return 'OK';
  }
}

interface Answer {
  data?: Record<string, any> | null;
  errors?: { extensions?: Record<string, unknown> }[];
  /** HTTP status, or the WebSocket close code when the socket was refused. */
  status?: number;
  closeCode?: number;
}

function outcomeOf(answer: Answer, operation: Operation): string {
  if (answer.closeCode === 4403 || answer.status === 401) {
    return answer.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED' || answer.closeCode === 4403
      ? 'UNAUTHENTICATED'
      : 'no code';
  }
  const code = answer.errors?.[0]?.extensions?.code;
  if (code === 'FORBIDDEN' || code === 'NOT_FOUND') return code;
  if (code !== undefined) return `unexpected ${JSON.stringify(code)}`;
  return operation.judge(answer.data ?? {});
}

/** One operation over a graphql-ws socket opened with these credentials: its first result, or how the socket closed. */
function overSocket(authorization: string | undefined, request: Request): Promise<Answer> {
  const client: Client = wsClient(server.url, authorization);
  return new Promise<Answer>((resolve) => {
    let settled = false;
    const finish = (answer: Answer) => {
      if (settled) return;
      settled = true;
      resolve(answer);
      void client.dispose();
    };
    client.subscribe(request, {
      next: (result) => finish(result as Answer),
      error: (error) => {
        const closeCode = (error as { code?: number }).code;
        finish(
          Array.isArray(error)
            ? { errors: error as Answer['errors'] }
            : { ...(closeCode ? { closeCode } : {}), errors: [] },
        );
      },
      complete: () => finish({ data: null }),
    });
  });
}

/**
 * Subscribes to runsChanged, then alice runs a quick transfer to its end: `data.seen` says whether any event
 * about that run reached this subscriber; an error or a refused socket is answered as is.
 */
async function watchRunsChanged(transport: Transport, authorization: string | undefined): Promise<Answer> {
  const query = `subscription { runsChanged { status run { id } } }`;
  const events: Answer[] = [];
  let refused: Answer | undefined;
  let stop: () => void;
  let subscribed: Promise<void>;
  if (transport === 'ws') {
    const client = wsClient(server.url, authorization);
    subscribed = new Promise<void>((resolve) => {
      const unsubscribe = client.subscribe(
        { query },
        {
          next: (result) => events.push(result as Answer),
          error: (error) => {
            const closeCode = (error as { code?: number }).code;
            refused = Array.isArray(error)
              ? { errors: error as Answer['errors'] }
              : { ...(closeCode ? { closeCode } : {}), errors: [] };
            resolve();
          },
          complete: () => resolve(),
        },
      );
      // graphql-ws subscribes as soon as the socket is open; the first acknowledged message is the connection.
      client.on('connected', () => setTimeout(resolve, 100));
      stop = () => {
        unsubscribe();
        void client.dispose();
      };
    });
  } else {
    const controller = new AbortController();
    stop = () => controller.abort();
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        ...(authorization ? { authorization } : {}),
      },
      body: JSON.stringify({ query }),
      signal: controller.signal,
    });
    if (!response.headers.get('content-type')?.includes('text/event-stream')) {
      return { status: response.status, ...((await response.json()) as Answer) };
    }
    if (response.status !== 200) {
      // Refused before the stream began: the error comes as the stream's only event.
      const data = (await response.text())
        .split('\n')
        .find((line) => line.startsWith('data:'))
        ?.slice(5);
      return { status: response.status, ...(data ? (JSON.parse(data) as Answer) : {}) };
    }
    subscribed = Promise.resolve();
    void (async () => {
      const decoder = new TextDecoder();
      let buffered = '';
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
            const block = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const data = block
              .split('\n')
              .find((line) => line.startsWith('data:'))
              ?.slice(5);
            if (block.includes('event: next') && data) events.push(JSON.parse(data) as Answer);
          }
        }
      } catch {
        // Aborted once the run has ended.
      }
    })();
  }
  await subscribed;
  if (refused) return refused;
  const runId = await aliceRun('finished');
  // Events reach a subscriber in order: once it has seen the end of a run of its own owner, started after alice's
  // ended, it has seen alice's too, if it ever will. A caller that may not run one must have been refused.
  const marker = authorization ? await quickRunAs(authorization) : undefined;
  await until(
    () => events,
    (seen) => seen.some((e) => e.errors?.length || (marker && e.data?.runsChanged?.run?.id === marker)) || !!refused,
    marker ? 'the end of a run of the subscriber’s own owner' : 'the refusal',
  );
  stop!();
  if (refused) return refused;
  const withError = events.find((e) => e.errors?.length);
  if (withError) return withError;
  return { data: { seen: events.some((e) => e.data?.runsChanged?.run?.id === runId) } };
}

/**
 * A quick fast pass by whoever `authorization` is, from an image it stores itself; its run id once finished, or
 * undefined when it may not run one.
 */
async function quickRunAs(authorization: string): Promise<string | undefined> {
  const stored = await fetch(`${server.url}/images`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', authorization },
    body: new Uint8Array(await readShared(contentImage('amber.jpg'))),
  });
  const { sha256 } = (await stored.json()) as { sha256: string };
  const answer = await gql(
    server.url,
    `mutation ($input: StartTransferInput!) { startTransfer(input: $input) { ... on Run { id } } }`,
    { input: { contentImageId: sha256, fastParams: { styleModel: 'mosaic', size: 32 } } },
    { authorization },
  );
  const id = answer.data?.startTransfer?.id as string | undefined;
  if (!id) return undefined;
  await until(
    async () =>
      (await gql(server.url, `query ($id: ID!) { run(id: $id) { status } }`, { id }, { authorization })).data!.run
        .status as string,
    (status) => status === 'SUCCEEDED',
    'a quick run',
  );
  return id;
}

async function ask(
  transport: Transport,
  authorization: string | undefined,
  request: Request,
  operation: Operation,
): Promise<Answer> {
  if (operation.custom) return operation.custom(transport, authorization);
  if (transport === 'ws') return overSocket(authorization, request);
  if (operation.kind !== 'subscription')
    return gql(server.url, request.query, request.variables ?? {}, { ...(authorization ? { authorization } : {}) });
  // A subscription over HTTP: server-sent events; runEvents of a finished run answers its snapshot and completes.
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      ...(authorization ? { authorization } : {}),
    },
    body: JSON.stringify(request),
  });
  if (response.headers.get('content-type')?.includes('application/json'))
    return { status: response.status, ...((await response.json()) as Answer) };
  const first = (await response.text()).split('\n\n').find((block) => block.includes('event: next'));
  const data = first
    ?.split('\n')
    .find((line) => line.startsWith('data:'))
    ?.slice(5);
  return { status: response.status, ...(data ? (JSON.parse(data) as Answer) : {}) };
}

beforeAll(async () => {
  idp = await startIdentityProvider();
  server = await startTestServer({
    GRAMIAN_AUTH: 'keys',
    GRAMIAN_IMPORT_DIR: SHARED_MODELS,
    RATE_LIMIT_MUTATIONS: '0',
    MAX_QUEUED_RUNS_PER_OWNER: '100',
    ...idp.env,
  });
  as.owner = await bearerKey(server, ALICE, ['read', 'run', 'manage']);
  as.runOnly = await bearerKey(server, ALICE, ['run']);
  as.manageOnly = await bearerKey(server, ALICE, ['manage']);
  as.nonAdmin = await bearerKey(server, ALICE, ['read', 'run', 'manage'], 'alice, not admin');
  as.noScope = `Bearer ${await idp.token(ALICE + '@idp', [])}`;
  as.other = await bearerKey(server, 'bob', ['read', 'run', 'manage']);
  as.admin = await bearerKey(server, 'root', ['admin']);
  const style = await aliceUploadsStyle();
  fixtures = { styleId: style.id, styleImageId: style.imageId, presetId: '', runId: '', modelId: '' };
  fixtures.presetId = await alicePreset();
  fixtures.runId = await aliceRun('finished');
  fixtures.modelId = await aliceModel();
});

afterAll(async () => {
  await server.stop();
  await idp.close();
});

const WHO: Who[] = ['no credentials', 'a scope too small', 'another owner', 'the owner', 'an admin'];
const CASES = OPERATIONS.flatMap((operation) =>
  (['http', 'ws'] as const).flatMap((transport) =>
    WHO.map((who) => [operation.name, transport, who, operation] as const),
  ),
);

describe('access sweep', () => {
  it.each(CASES)('%s over %s by %s', async (_name, transport, who, operation) => {
    const request = await operation.prepare();
    try {
      const answer = await ask(transport, credentialsOf(who, operation), request, operation);
      expect(outcomeOf(answer, operation), JSON.stringify(answer).slice(0, 400)).toBe(expected(who, operation));
      if (transport === 'http' && who === 'no credentials') expect(answer.status).toBe(401);
    } finally {
      await operation.cleanup?.(request);
    }
  });
});
