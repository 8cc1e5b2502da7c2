// Fair and bounded, on a real server with keys required: the queue is fair across owners with positions that stay
// true; an owner's queued runs, the work of one run and the rate of mutations are capped for each principal; and a
// query's aliases are limited like its depth, cost and tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CANCEL_RUN,
  START_TRANSFER,
  bearerKey,
  footprint,
  gql,
  gqlUpload,
  startTestServer,
  subscribeAll,
  until,
  wsClient,
  type As,
  type TestServer,
} from './helpers/server.js';
import { readShared, styleImage } from './helpers/shared.js';
import { expandScopes, type Principal } from '../src/auth/principal.js';
import { startTransfer } from '../src/domain/transfers.js';
import { localId } from '../src/schema/types/ids.js';

/** 1200×1528: at size 48 a run is 38×48 px, at size 64 50×64 (3,200 px). */
let scream: Uint8Array;

interface Owner {
  name: string;
  /** A key with scope run only: what a transfer needs. */
  run: As;
  styleId: string;
  /** The style's image, used as the content too. */
  imageId: string;
}

const UPLOAD = /* GraphQL */ `
  mutation ($input: UploadStyleInput!) {
    uploadStyle(input: $input) {
      __typename
      ... on Style {
        id
        image {
          id
        }
      }
    }
  }
`;

const RUN = `query ($id: ID!) { run(id: $id) { status queuePosition } }`;

const QUOTA_FIELDS = /* GraphQL */ `
  mutation ($input: StartTransferInput!) {
    startTransfer(input: $input) {
      __typename
      ... on Run {
        id
        status
      }
      ... on Error {
        code
        message
      }
      ... on QuotaExceededError {
        limit
      }
    }
  }
`;

beforeAll(async () => {
  scream = await readShared(styleImage('the_scream.jpg'));
});

/** An owner with a style of its own (uploaded with a manage key) and a run-only key for its transfers. */
async function owner(server: TestServer, name: string, scopes: string[] = ['run']): Promise<Owner> {
  const manage = await bearerKey(server, name, ['manage']);
  const answer = await gqlUpload(
    server.url,
    UPLOAD,
    { input: { name: `${name}'s style`, image: null } },
    { 'input.image': { bytes: scream } },
    { authorization: manage },
  );
  expect(answer.data?.uploadStyle.__typename).toBe('Style');
  const { id: styleId, image } = answer.data!.uploadStyle;
  return { name, run: { authorization: await bearerKey(server, name, scopes) }, styleId, imageId: image.id };
}

function transfer(server: TestServer, who: Owner, params: Record<string, unknown>, query = START_TRANSFER) {
  const input = { contentImageId: who.imageId, styles: [{ styleId: who.styleId }], params };
  return gql(server.url, query, { input }, who.run);
}

/** A run that is admitted (queued or running); its id. */
async function queue(server: TestServer, who: Owner, params: Record<string, unknown>): Promise<string> {
  const answer = await transfer(server, who, { previewEvery: 0, ...params });
  expect(answer.data?.startTransfer).toMatchObject({ __typename: 'Run' });
  return answer.data!.startTransfer.id as string;
}

/** A gate calls wait until it is opened; `waiting` counts the calls held. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const state = {
    waiting: 0,
    open,
    pass: async () => {
      state.waiting++;
      await opened;
    },
  };
  return state;
}

/** A Prisma model whose `method` waits at the gate first. */
function held<T extends object>(model: T, method: string, at: ReturnType<typeof gate>): T {
  return new Proxy(model, {
    get: (target, key) => {
      const value = Reflect.get(target, key) as unknown;
      if (key !== method || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await at.pass();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

async function statusOf(
  server: TestServer,
  who: Owner,
  id: string,
): Promise<{ status: string; queuePosition: number }> {
  return (await gql(server.url, RUN, { id }, who.run)).data!.run;
}

describe('fair queue', () => {
  let server: TestServer;
  let alice: Owner;
  let bob: Owner;

  beforeAll(async () => {
    // One engine worker (the default): runs start one at a time.
    server = await startTestServer({ GRAMIAN_AUTH: 'keys' });
    alice = await owner(server, 'alice');
    bob = await owner(server, 'bob');
  });

  afterAll(async () => {
    await server.stop();
  });

  it("starts bob's single run before alice's backlog drains, in the order the positions said", async () => {
    // Long runs (canceled as each starts, to keep the test short): alice's first runs, the rest of hers queue.
    const params = { size: 48, steps: 300 };
    const first = await queue(server, alice, params);
    await until(
      () => statusOf(server, alice, first),
      (run) => run.status === 'RUNNING',
      "alice's first run running",
    );
    const backlog = [await queue(server, alice, params), await queue(server, alice, params)];
    backlog.push(await queue(server, alice, params));
    const bobs = await transfer(server, bob, { ...params, previewEvery: 0 });
    // Bob has nothing in progress, alice one: his run goes first, and says so at once.
    expect(bobs.data!.startTransfer).toMatchObject({ __typename: 'Run', status: 'QUEUED', queuePosition: 1 });
    const owners = new Map<string, Owner>([[first, alice], ...backlog.map((id) => [id, alice] as const)]);
    owners.set(bobs.data!.startTransfer.id, bob);

    // Drive the queue: note what each owner is told, cancel whatever runs, until every run has started once.
    const started: string[] = [];
    const toldBefore: string[][] = [];
    while (started.length < owners.size) {
      const running = await until(
        async () => {
          const states = await Promise.all([...owners].map(async ([id, who]) => [id, await statusOf(server, who, id)]));
          return states as [string, { status: string; queuePosition: number }][];
        },
        (states) => states.some(([id, run]) => run.status === 'RUNNING' && !started.includes(id)),
        `run ${started.length + 1} of ${owners.size} running`,
      );
      started.push(running.find(([id, run]) => run.status === 'RUNNING' && !started.includes(id))![0]);
      // The queued runs by the position each owner sees, while this one runs.
      const waiting = running.filter(([, run]) => run.status === 'QUEUED');
      toldBefore.push(waiting.sort(([, a], [, b]) => a.queuePosition - b.queuePosition).map(([id]) => id));
      expect(waiting.map(([, run]) => run.queuePosition)).toEqual(waiting.map((_, i) => i + 1));
      const current = started.at(-1)!;
      expect(
        (await gql(server.url, CANCEL_RUN, { id: current }, owners.get(current)!.run)).data!.cancelRun,
      ).toMatchObject({ status: 'CANCELED' });
    }

    const name = (id: string) => `${owners.get(id)!.name}${id === first ? ' 1' : ''}`;
    expect(started.map(name)).toEqual(['alice 1', 'bob', 'alice', 'alice', 'alice']);
    expect(started).toEqual([first, bobs.data!.startTransfer.id, ...backlog]);
    // Positions stay true: at every start, the runs left started in the order of the positions told.
    toldBefore.forEach((told, i) => expect(told).toEqual(started.slice(i + 1)));
  });
});

describe('quota and work cap', () => {
  let server: TestServer;
  let admin: Owner;
  let carol: Owner;
  let dave: Owner;
  let erin: Owner;
  let blocker: string;
  const MAX_RUN_WORK = 200_000;

  beforeAll(async () => {
    server = await startTestServer({
      GRAMIAN_AUTH: 'keys',
      MAX_QUEUED_RUNS_PER_OWNER: '2',
      MAX_RUN_WORK: String(MAX_RUN_WORK),
    });
    admin = await owner(server, 'root', ['admin']);
    carol = await owner(server, 'carol');
    dave = await owner(server, 'dave');
    erin = await owner(server, 'erin');
    // A long run holds the one worker: every run after it stays queued.
    blocker = await queue(server, admin, { size: 48, steps: 5000 });
    await until(
      () => statusOf(server, admin, blocker),
      (run) => run.status === 'RUNNING',
      'the blocker running',
    );
  });

  afterAll(async () => {
    await gql(server.url, CANCEL_RUN, { id: blocker }, admin.run);
    await server.stop();
  });

  const small = { size: 48, steps: 20 };

  it('refuses a third queued run with QUOTA_EXCEEDED, nothing written; other owners and admins get in', async () => {
    await queue(server, carol, small);
    await queue(server, carol, small);
    const before = await footprint(server);
    // An upload of its own content: refused before the image is stored.
    const refused = await gqlUpload(
      server.url,
      QUOTA_FIELDS,
      { input: { content: null, styles: [{ styleId: carol.styleId }], params: small } },
      { 'input.content': { bytes: scream } },
      carol.run,
    );
    expect(refused.data!.startTransfer).toMatchObject({
      __typename: 'QuotaExceededError',
      code: 'QUOTA_EXCEEDED',
      limit: 2,
    });
    expect(await footprint(server)).toEqual(before);
    // Another owner has its own quota; an admin has none.
    await queue(server, dave, small);
    for (let i = 0; i < 3; i++) await queue(server, admin, small);
  });

  it('admits exactly one of a burst of transfers at the limit over HTTP', async () => {
    // dave has one queued, one place left.
    const answers = await Promise.all(Array.from({ length: 6 }, () => transfer(server, dave, small, QUOTA_FIELDS)));
    const kinds = answers.map((a) => a.data!.startTransfer.__typename as string).sort();
    expect(kinds).toEqual([...Array.from({ length: 5 }, () => 'QuotaExceededError'), 'Run']);
    expect(await server.services.db.run.count({ where: { owner: 'dave', status: 'QUEUED' } })).toBe(2);
  });

  it('admits one of two transfers at the limit past the early check, the first still being written', async () => {
    const heidi = await owner(server, 'heidi');
    await queue(server, heidi, small);
    // The real startTransfer and run manager, on a database whose reads of styles and writes of runs wait at gates:
    // both requests pass the early quota check and wait; then the first's run is being written while the second
    // reaches admission. Only a place reserved when the first was admitted can refuse the second.
    const stylesRead = gate();
    const runWritten = gate();
    const { db, images, runs, engineInfo, config } = server.services;
    const gated = new Proxy(db, {
      get: (target, key) => {
        if (key === 'style') return held(target.style, 'findMany', stylesRead);
        if (key === 'run') return held(target.run, 'create', runWritten);
        return Reflect.get(target, key) as unknown;
      },
    });
    const services = { db: gated, images, runs, backend: engineInfo, maxRunWork: config.maxRunWork };
    const principal: Principal = { owner: 'heidi', scopes: expandScopes(['run']), via: 'key', id: 'heidi' };
    const input = {
      contentImageId: localId(heidi.imageId, 'Image'),
      styles: [{ styleId: localId(heidi.styleId, 'Style') }],
      params: small,
    };
    const outcome = (p: Promise<unknown>) =>
      p.then(
        (run) => ({ admitted: (run as { id: string }).id }),
        (error: unknown) => ({ refused: (error as { code?: string }).code }),
      );
    const answers = [
      outcome(startTransfer(services, principal, input)),
      outcome(startTransfer(services, principal, input)),
    ];
    await until(
      () => stylesRead.waiting,
      (n) => n === 2,
      'both transfers past the early check',
    );
    stylesRead.open();
    let settled = 0;
    answers.forEach((answer) => void answer.then(() => settled++));
    await until(
      () => [runWritten.waiting, settled],
      ([writing, done]) => writing === 2 || (writing === 1 && done === 1),
      'the first admitted, the second decided',
    );
    runWritten.open();
    const results = await Promise.all(answers);
    expect(results.filter((a) => 'admitted' in a)).toHaveLength(1);
    expect(results.filter((a) => 'refused' in a)).toEqual([{ refused: 'QUOTA_EXCEEDED' }]);
    expect(await db.run.count({ where: { owner: 'heidi', status: 'QUEUED' } })).toBe(2);
  });

  it("refuses a run over MAX_RUN_WORK naming the field and what fits, and lets an admin's through", async () => {
    const before = await footprint(server);
    // 50×64 px = 3,200 px a step: 62 steps fit in 200,000 pixel-steps, 63 do not.
    const over = await transfer(server, erin, { size: 64, steps: 63 });
    expect(over.data!.startTransfer).toMatchObject({
      __typename: 'InputError',
      code: 'INVALID_INPUT',
      field: 'params.steps',
      validValues: 'steps ≤ 62 at size 64',
    });
    // Two scales: 25×32 + 50×64 = 4,000 px a step.
    const scales = await transfer(server, erin, { size: 64, scales: 2, steps: 51 });
    expect(scales.data!.startTransfer).toMatchObject({ field: 'params.steps', validValues: 'steps ≤ 50 at size 64' });
    // 402×512 px: not even one step fits; the largest size for one is 504 (396×504 = 199,584).
    const large = await transfer(server, erin, { size: 512, steps: 1 });
    expect(large.data!.startTransfer).toMatchObject({ field: 'params.size', validValues: 'size ≤ 504 at 1 step' });
    // A fast run counts its output pixels once: 603×768 is over, 396×504 the most.
    const fast = await gql(
      server.url,
      START_TRANSFER,
      { input: { contentImageId: erin.imageId, fastParams: { styleModel: 'mosaic', size: 768 } } },
      erin.run,
    );
    expect(fast.data!.startTransfer).toMatchObject({
      field: 'fastParams.size',
      validValues: 'size ≤ 504 for this image',
    });
    expect(await footprint(server)).toEqual(before);

    await queue(server, erin, { size: 64, steps: 62 });
    await queue(server, admin, { size: 64, steps: 63 });
  });
});

describe('rate limit', () => {
  let server: TestServer;
  let frank: As;
  let grace: As;
  const CREATE_PRESET = `mutation ($name: String!) { createPreset(input: { name: $name, params: { size: 64 } }) {
    __typename } }`;

  beforeAll(async () => {
    server = await startTestServer({ GRAMIAN_AUTH: 'keys', RATE_LIMIT_MUTATIONS: '3' });
    frank = { authorization: await bearerKey(server, 'frank', ['manage']) };
    grace = { authorization: await bearerKey(server, 'grace', ['manage']) };
  });

  afterAll(async () => {
    await server.stop();
  });

  it('refuses the 4th mutation in a minute: RATE_LIMITED, 429 and Retry-After, over HTTP and graphql-ws', async () => {
    for (let i = 1; i <= 3; i++) {
      const answer = await gql(server.url, CREATE_PRESET, { name: `frank ${i}` }, frank);
      expect(answer.data!.createPreset.__typename).toBe('Preset');
    }
    const before = await footprint(server);
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: frank.authorization! },
      body: JSON.stringify({ query: CREATE_PRESET, variables: { name: 'frank 4' } }),
    });
    expect(response.status).toBe(429);
    // A token comes back every 20 s.
    const retryAfter = Number(response.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    const body = (await response.json()) as { data?: unknown; errors: { extensions: { code: string } }[] };
    expect(body.errors.map((e) => e.extensions.code)).toEqual(['RATE_LIMITED']);
    expect(body.data ?? null).toBeNull();

    const client = wsClient(server.url, frank.authorization);
    const overSocket = await subscribeAll(client, CREATE_PRESET, { name: 'frank 5' });
    expect(overSocket.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    await client.dispose();
    expect(await footprint(server)).toEqual(before);

    // Queries are not limited; another principal has its own bucket.
    const presets = await gql(server.url, `{ presets { name } }`, {}, frank);
    expect(presets.data!.presets.map((p: { name: string }) => p.name)).toContain('frank 3');
    const other = await gql(server.url, CREATE_PRESET, { name: 'grace 1' }, grace);
    expect(other.data!.createPreset.__typename).toBe('Preset');
  });
});

describe('aliases', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.stop();
  });

  const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `e${i}: engine { backend }`).join(' ')} }`;

  it('answers 15 aliases and refuses 16 as QUERY_TOO_COMPLEX, over HTTP and graphql-ws', async () => {
    expect(Object.keys((await gql(server.url, aliased(15))).data!)).toHaveLength(15);
    const refused = await gql(server.url, aliased(16));
    expect(refused.status).toBe(400);
    expect(refused.errors?.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
    expect(refused.errors![0]!.message).toMatch(/alias/i);
    const client = wsClient(server.url);
    await expect(subscribeAll(client, aliased(16), {})).rejects.toThrow(/QUERY_TOO_COMPLEX/);
    await client.dispose();
  });
});
