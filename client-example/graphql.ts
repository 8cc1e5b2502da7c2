// Typed GraphQL documents for the examples: gql.tada reads the server's schema (../schema.graphql, turned into
// graphql-env.d.ts by `npm run schema`), so an operation that no longer fits the schema fails the client's type check.
import { initGraphQLTada } from 'gql.tada';
import type { introspection } from './graphql-env.d.ts';

export const graphql = initGraphQLTada<{
  introspection: introspection;
  scalars: { DateTime: string; File: File | Blob; ID: string };
}>();

export type { FragmentOf, ResultOf, VariablesOf } from 'gql.tada';
export { readFragment } from 'gql.tada';
