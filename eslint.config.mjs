// ESLint flat config: typescript-eslint's type-checked rules for the TypeScript
// (apps, libs, scripts, test, bench), the core recommended rules for the plain
// CommonJS scripts, and eslint-config-prettier last so that formatting is
// Prettier's alone (`npm run format:check`).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** The Node.js globals the plain .js scripts use (CommonJS). */
const NODE_COMMONJS_GLOBALS = {
  __dirname: 'readonly',
  Buffer: 'readonly',
  clearTimeout: 'readonly',
  console: 'readonly',
  module: 'writable',
  process: 'readonly',
  require: 'readonly',
  setTimeout: 'readonly',
  URL: 'readonly',
};

export default defineConfig(
  {
    ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/load/results/'],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Both are in recommendedTypeChecked; named here because they guard real bugs
      // (an unawaited send, a rejected promise nobody handles) and must stay errors.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A `_` name is this codebase's "unused on purpose" (`for (const _ of text)`, an omitted rest sibling).
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_' }],
    },
  },
  {
    // The integration and e2e suites walk parsed JSON and YAML (HTTP bodies, the OpenAPI
    // document, the k8s manifests) as `any` on purpose: their expect() checks the shape at run time.
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
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: NODE_COMMONJS_GLOBALS },
  },
  prettier,
);
