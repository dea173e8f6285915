
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/** A relative import that climbs out of the importing package and into another folder's `test/`. */
const TEST_FOLDER_OF_ANOTHER_PACKAGE = {
  regex: '^(\\.\\./)+([^./][^/]*/)+test(/|$)',
  message: "no test reaches into another package's test/ folder: shared test support lives in @kubeless/stack (issue 24)",
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'helm/**', '.stack/**', 'coverage/**', 'runtimes/python/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // One program for every file (tsconfig.lint.json): half the time and a third of the memory of one per package.
        project: ['./tsconfig.lint.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // @kubernetes/client-node models are data-only classes; its own docs pass object literals.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'read configuration through @kubeless/config (docs/architecture.md#conventions)' },
      ],
    },
  },
  {
    // Tests, the config loader, the local stack tooling and the demo may read the environment directly.
    files: ['**/test/**', 'libs/config/src/**', 'test/**', 'scripts/**', 'vitest.config.ts', 'eslint.config.js'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // Tests assert on JSON as the API server returns it: untyped access is the point there.
    files: ['**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
    },
  },
  {
    // Package boundaries (issue 24): a package's tests never reach into another package's test/
    // folder (a relative path that climbs out of the package and down into `<dir>/test/`); test
    // support shared across packages lives in @kubeless/stack. Its own test/ and src/ stay reachable.
    files: ['libs/*/test/**', 'services/*/test/**', 'runtimes/*/test/**', 'scripts/*/test/**', 'cli/test/**', 'test/stack/test/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [TEST_FOLDER_OF_ANOTHER_PACKAGE] }] },
  },
  {
    // The top-level test area (e2e, chaos, helm, bench) is a package area of its own: it uses
    // @kubeless/stack and the packages' public exports (the benchmarks load their built
    // dist/index.js), never their test/ folders or their sources.
    files: ['test/e2e/**', 'test/chaos/**', 'test/helm/**', 'test/bench/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            TEST_FOLDER_OF_ANOTHER_PACKAGE,
            { regex: '^(\\.\\./)+((libs|services|runtimes|scripts)/[^/]+|cli)/src(/|$)', message: "import the package's public exports (@kubeless/..., or its built dist/index.js), not its sources" },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Plain-JS scripts (benchmarks) run on Node: its globals are defined.
    files: ['**/*.mjs'],
    languageOptions: {
      globals: { process: 'readonly', fetch: 'readonly', URL: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', clearTimeout: 'readonly', console: 'readonly', Buffer: 'readonly' },
    },
  },
);
