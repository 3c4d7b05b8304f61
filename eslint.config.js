// Lint for the whole tree: typescript-eslint's type-checked recommendations (floating promises,
// unsafe any, misused promises), no unused code. Formatting is Prettier's job (.prettierrc.json).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-floating-promises': 'error',
      // Methods that implement a Promise-returning interface (ReplySink, Store, KeyvStoreAdapter) are
      // async so that a throw becomes a rejection, as callers expect, whether or not they await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The playground's page script runs in the browser, as plain JavaScript (no build step, no types).
    files: ['adapters/web/public/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: false, program: null },
      globals: Object.fromEntries(
        ['document', 'window', 'location', 'history', 'sessionStorage', 'localStorage', 'crypto', 'EventSource', 'FormData', 'fetch', 'URLSearchParams', 'navigator'].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    // Tests, benchmarks and the fakes they drive read wire payloads (recorded Slack and Discord JSON, request bodies a
    // fake received) as untyped data and assert their shape: `any` there is the point, not a leak.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
);
