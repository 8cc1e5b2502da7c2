// ESLint for the whole repository: typescript-eslint with type information (floating promises, exhaustive switches
// over unions), the engine's import boundaries, and Prettier's formatting left to Prettier.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const layers = 'See "Layout" in the README: what each folder may import.';

/** Outside src/engine, the engine is imported through an index: src/engine/index.ts, or a subsystem's in tests. */
const engineIndexes = {
  group: ['**/engine/*/*', '!**/engine/*/index.js', '**/engine/*.js', '!**/engine/index.js'],
  message: 'Import the engine through src/engine/index.ts (tests and benches of tensor code: a subsystem index).',
};
/** The program itself reaches the engine only through its main index: no tensors in the importing thread. */
const engineMainIndex = { group: ['**/engine/*/**'], message: 'Import the engine through src/engine/index.ts.' };
/** The engine holds tensors only: no GraphQL, no Prisma, nothing from the server around it. */
const engineAlone = [
  { group: ['**/domain/**', '**/schema/**', '**/storage/**', '**/http/**', '**/cli/**'], message: layers },
  { group: ['graphql', 'graphql-*', '@pothos/*', '@prisma/*', 'prisma'], message: layers },
];
/** Storage knows rows and files, domain what they mean; neither knows GraphQL or HTTP. */
const belowSchema = { group: ['**/schema/**', '**/http/**', '**/cli/**', '@pothos/*'], message: layers };
/** A fast-style network needs nothing from the Gatys optimiser. */
const fastStyleAlone = { group: ['**/gatys/**'], message: 'fast-style/ imports nothing from gatys/.' };

/** One no-restricted-imports setting per area (a later block would replace, not add to, an earlier one). */
const restrict = (files, patterns, ignores = []) => ({
  files,
  ignores,
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'src/storage/generated/',
      'src/storage/generated-pg/',
      'client-example/web/dist/',
      'client-example/graphql-env.d.ts',
      'test-artifacts/',
      'data/',
      'bench/_*',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  restrict(['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'], [engineIndexes]),
  // The example clients speak GraphQL and HTTP only, as any frontend would.
  restrict(['client-example/**/*.ts'], [{ group: ['**/src/**'], message: layers }]),
  restrict(['src/**/*.ts'], [engineMainIndex], ['src/engine/**', 'src/storage/**', 'src/domain/**']),
  restrict(['src/storage/**/*.ts', 'src/domain/**/*.ts'], [engineMainIndex, belowSchema]),
  restrict(['src/engine/**/*.ts'], engineAlone, ['src/engine/fast-style/**']),
  restrict(['src/engine/fast-style/**/*.ts'], [...engineAlone, fastStyleAlone]),
  {
    files: ['client-example/web/src/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Tests read GraphQL answers as JSON (`data!.run.steps`): typed `any` on purpose, where a schema type would
    // only restate what each assertion checks.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  prettier,
  // After Prettier's config, which turns it off: Prettier wraps code at 120 columns but not strings or comments.
  { rules: { 'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }] } },
);
