// The Pothos schema builder and its plugins: Prisma-backed object types, Relay global ids and connections, typed
// error results.
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin, { decodeGlobalID, resolveNodes } from '@pothos/plugin-relay';
import type { GraphQLInterfaceType, GraphQLResolveInfo } from 'graphql';
import type PrismaTypes from '../storage/generated/pothos-types.ts';
import { getDatamodel } from '../storage/generated/pothos-types.ts';
import { can, isAdmin, SHARED_OWNER, type Principal } from '../auth/principal.js';
import { AccessError } from '../errors.js';
import type { Context } from './context.js';

interface GlobalId {
  typename: string;
  id: string;
}

/** A malformed id decodes to a typename no type has, so node lookups answer null for it instead of failing. */
function decodeAnyGlobalID(globalID: string): GlobalId {
  try {
    return decodeGlobalID(globalID);
  } catch {
    return { typename: '', id: globalID };
  }
}

/** Prisma's findUniqueOrThrow, which prismaNode loads with, on a row that does not exist. */
function isRecordNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'P2025';
}

/**
 * node(id:) and nodes(ids:) answer null for an id that names nothing, as run(id:) does: a malformed id, a type
 * that does not exist or is not a Node, a row that does not exist.
 */
async function loadNode(context: Context, info: GraphQLResolveInfo, globalId: GlobalId): Promise<unknown> {
  const nodeInterface = info.schema.getType('Node') as GraphQLInterfaceType;
  if (!info.schema.getPossibleTypes(nodeInterface).some((type) => type.name === globalId.typename)) return null;
  try {
    const [node] = await resolveNodes(builder, context, info, [globalId]);
    if (!node) return null;
    // Another owner's row answers null, as an unknown id does: its existence is not revealed.
    return (await visibleTo(context, globalId.typename, node)) ? node : null;
  } catch (error) {
    if (isRecordNotFound(error)) return null;
    throw error;
  }
}

/** What each scope of the schema means for a principal; `owner` is whether it may read rows of that owner. */
function scopesOf(principal: Principal) {
  return {
    read: can(principal, 'read'),
    run: can(principal, 'run'),
    manage: can(principal, 'manage'),
    admin: isAdmin(principal),
    owner: (owner: string) => isAdmin(principal) || owner === principal.owner || owner === SHARED_OWNER,
  };
}

/** Whether the principal may see a row loaded by id: its own (and, for presets and models, the shared ones). */
async function visibleTo(context: Context, typename: string, node: unknown): Promise<boolean> {
  const { principal } = context;
  if (isAdmin(principal)) return true;
  if (typename === 'Image') {
    const owners = [principal.owner, SHARED_OWNER];
    return (await context.images.find((node as { id: string }).id, owners)) !== null;
  }
  const owner = (node as { owner?: unknown }).owner;
  if (typeof owner !== 'string') return true;
  return owner === principal.owner || (owner === SHARED_OWNER && (typename === 'Preset' || typename === 'StyleModel'));
}

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { read: boolean; run: boolean; manage: boolean; admin: boolean; owner: string };
  PrismaTypes: PrismaTypes;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    File: { Input: File; Output: never };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
}>({
  // Relay before scope-auth, so that node ids reach the scope checks decoded (the plugin's own advice).
  plugins: [RelayPlugin, ScopeAuthPlugin, ErrorsPlugin, PrismaPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (context) => scopesOf(context.principal),
    // A missing scope is FORBIDDEN, at the top level (never a typed result: it is not about the input).
    unauthorizedError: (_parent, _context, _info, result) => new AccessError('FORBIDDEN', result.message),
  },
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  prisma: {
    client: (context) => context.db,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
  },
  relay: {
    decodeGlobalID: decodeAnyGlobalID,
    nodeQueryOptions: { resolve: (_root, { id }, context, info) => loadNode(context, info, id) },
    nodesQueryOptions: { resolve: (_root, { ids }, context, info) => ids.map((id) => loadNode(context, info, id)) },
  },
  errors: {
    // None by default: each mutation lists the error types it can return, and its result union holds only those.
    defaultTypes: [],
    directResult: true,
  },
});

builder.scalarType('DateTime', {
  description: 'An ISO 8601 date and time.',
  serialize: (date) => date.toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError(`"${String(value)}" is not an ISO 8601 date`);
    return date;
  },
});

builder.scalarType('File', {
  description: 'A file sent in a multipart request (GraphQL multipart request specification).',
  serialize: () => {
    throw new TypeError('File is an input type');
  },
});

// Every query and subscription needs the read scope; each mutation names the scope it needs.
builder.queryType({ authScopes: { read: true } });
builder.mutationType({});
builder.subscriptionType({ authScopes: { read: true } });
