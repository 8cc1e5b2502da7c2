// `gramian keys`: create, list and revoke the API keys the server accepts, in the server's own database (DATA_DIR or
// DATABASE_URL, as the server reads them; created and migrated when missing). Works while the server runs.
import { parseArgs } from 'node:util';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKeyInfo, type CreateApiKeyInput } from '../auth/api-keys.js';
import { KeyInputError } from '../auth/auth-error.js';
import { SCOPES } from '../auth/principal.js';
import { loadConfig } from '../config.js';
import { openDatabase, type Db } from '../storage/db.js';

export const KEYS_USAGE = `keys options (in the server's database: DATA_DIR or DATABASE_URL, as the server reads them):
  --name <name>               what the key is for, 1 to 80 characters
  --scopes <a,b>              ${SCOPES.join(', ')}; admin implies all, run and manage imply read
  --owner <owner>             whose runs, images, styles and presets the key sees and changes [local]
  create prints the key once, alone on its last line (… | tail -n1); revoke also takes the key itself`;

/** Minutes are enough to tell uses apart; UTC, as the database keeps it. */
function when(date: Date | null): string {
  return date ? `${date.toISOString().slice(0, 16).replace('T', ' ')}Z` : '-';
}

/** The same mistake, named as the command line spells it (`--scopes`, not `scopes`). */
function asOption(error: unknown): unknown {
  if (!(error instanceof KeyInputError)) return error;
  const field = error.field === 'key' ? 'keys revoke' : `--${error.field}`;
  return new KeyInputError(field, error.detail, error.validValues);
}

function table(keys: ApiKeyInfo[]): string[] {
  const rows = [
    ['PREFIX', 'NAME', 'OWNER', 'SCOPES', 'CREATED', 'LAST USED', 'REVOKED'],
    ...keys.map((k) => [
      k.prefix,
      k.name,
      k.owner,
      k.scopes.join(','),
      when(k.createdAt),
      when(k.lastUsedAt),
      when(k.revokedAt),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
}

async function create(db: Db, input: CreateApiKeyInput): Promise<void> {
  const { key, record } = await createApiKey(db, input);
  console.log(`created API key "${record.name}"`);
  console.log(`  owner   ${record.owner}`);
  console.log(`  scopes  ${record.scopes.join(',')}`);
  console.log(`  prefix  ${record.prefix} (how lists and logs name it)`);
  console.log('The key is shown once, here, and cannot be recovered: store it now. Send it as');
  console.log('"Authorization: Bearer <key>". The key:');
  console.log(key);
}

async function list(db: Db): Promise<void> {
  const keys = await listApiKeys(db);
  if (keys.length === 0) {
    console.log('no API keys yet: gramian keys create --name <name> --scopes <list>');
    return;
  }
  for (const line of table(keys)) console.log(line);
}

async function revoke(db: Db, target: string): Promise<void> {
  const { record: key, alreadyRevoked } = await revokeApiKey(db, target);
  console.log(
    alreadyRevoked
      ? `API key ${key.prefix} ("${key.name}") was already revoked on ${when(key.revokedAt)}`
      : `revoked API key ${key.prefix} ("${key.name}", owner ${key.owner})`,
  );
}

/** `gramian keys create|list|revoke`. */
export async function keysCommand(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { name: { type: 'string' }, scopes: { type: 'string' }, owner: { type: 'string' } },
  });
  const [action = 'list', target, ...extra] = positionals;
  const known =
    (action === 'create' && target === undefined) ||
    (action === 'list' && target === undefined) ||
    (action === 'revoke' && target !== undefined && extra.length === 0);
  if (!known) {
    throw new KeyInputError(
      'keys',
      `unknown or incomplete action "${positionals.join(' ')}"`,
      'create --name <name> --scopes <list> [--owner <owner>], list, revoke <prefix|id>',
    );
  }
  // Before the database is opened (and perhaps created): a command missing an option changes nothing.
  if (action === 'create' && values.name === undefined)
    throw new KeyInputError('--name', 'is required: what the key is for');
  if (action === 'create' && values.scopes === undefined)
    throw new KeyInputError('--scopes', 'is required', SCOPES.join(', '));
  const database = await openDatabase(loadConfig().databaseUrl);
  try {
    if (action === 'create') {
      const { name = '', scopes = '', owner } = values;
      await create(database.prisma, { name, scopes, ...(owner !== undefined ? { owner } : {}) });
    } else if (action === 'list') await list(database.prisma);
    else await revoke(database.prisma, target!);
  } catch (error) {
    throw asOption(error);
  } finally {
    await database.close();
  }
}
