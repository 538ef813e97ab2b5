// npm run lint — typescript-eslint's recommended rules (syntax only, no type information, so the
// check stays fast on a small machine), plus a few house settings. Part of `npm run check`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // unused names are errors, except deliberate `_`-prefixed ones
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `cond ? a() : b()` as a statement is used for endian-dependent writes (store/gvariant.ts)
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true }],
    },
  },
  {
    // issue 13: long functions were split into named steps (renderSlot, checkoutLayers, buildSlot,
    // parseToml, gvariant read, acquireRepoLock, buildBundle, ...); none may grow back past 100
    // lines of code. Tests (mocha describe bodies) are exempt.
    files: ['src/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 100, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
  },
  {
    // bin/run.js is CommonJS (bin/package.json): see the file
    files: ['**/*.cjs', 'bin/run.js'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', __dirname: 'readonly', __filename: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
