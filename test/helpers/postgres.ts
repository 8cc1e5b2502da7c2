// A fresh PostgreSQL database per test, on the local server (127.0.0.1:5432, trust auth; GRAMIAN_TEST_POSTGRES names
// another server). Tests that need it run under `describe.skipIf(!RUN_POSTGRES)`: on a machine without PostgreSQL
// they are skipped with a warning, except in CI (CI, or GRAMIAN_REQUIRE_SERVICES=1 as .ci/run sets), where the
// probe throws so that they fail rather than skip.
import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** The server's address; the user is the first of `candidateUsers` it accepts. */
const SERVER = process.env.GRAMIAN_TEST_POSTGRES ?? 'postgresql://127.0.0.1:5432';
/** Debian's superuser, then the machine's own user (trust auth lets either in where its role exists). */
const candidateUsers = ['postgres', 'root'];

export const REQUIRE_SERVICES = Boolean(process.env.CI) || process.env.GRAMIAN_REQUIRE_SERVICES === '1';

/** A URL for `database` on the server, as `user`. */
function urlOf(user: string, database: string): string {
  const url = new URL(SERVER);
  if (!url.username) url.username = user;
  url.pathname = `/${database}`;
  return url.toString();
}

/** The first user the server lets into its `postgres` database, or the reasons none got in. */
async function probe(): Promise<{ user: string } | { problems: string[] }> {
  const problems: string[] = [];
  for (const user of candidateUsers) {
    const client = new pg.Client({ connectionString: urlOf(user, 'postgres'), connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return { user };
    } catch (error) {
      problems.push(`${user}: ${(error as Error).message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return { problems };
}

const probed = await probe();

/** Whether the PostgreSQL tests run here. */
export const RUN_POSTGRES = 'user' in probed;

if (!('user' in probed)) {
  const message = `PostgreSQL at ${SERVER} is not reachable (${probed.problems.join('; ')})`;
  if (REQUIRE_SERVICES) throw new Error(`${message}: the tests that need it cannot run (GRAMIAN_REQUIRE_SERVICES)`);
  console.warn(`${message}: skipping the tests that need it`);
}

export interface TestDatabase {
  /** postgresql:// URL of the new, empty database. */
  url: string;
  /** Drops it, closing any connection still open to it. */
  drop(): Promise<void>;
}

async function asAdmin<T>(user: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlOf(user, 'postgres') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named, empty database for one test (or file) and returns its URL. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!('user' in probed))
    throw new Error(`PostgreSQL at ${SERVER} is not reachable: guard the test with RUN_POSTGRES`);
  const { user } = probed;
  const name = `gramian_test_${process.pid}_${randomUUID().slice(0, 8)}`;
  await asAdmin(user, (client) => client.query(`CREATE DATABASE "${name}"`));
  let dropped = false;
  return {
    url: urlOf(user, name),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await asAdmin(user, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
