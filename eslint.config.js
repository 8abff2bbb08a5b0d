import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // packages/server/console: the console's pages as Vite builds them (packages/console is the source).
  { ignores: ['**/dist/**', '**/node_modules/**', 'test-output/**', 'packages/server/console/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-empty-object-type': 'off',
    },
  },
  {
    // Tests (and the shared test helpers) read untyped JSON from the wire; `any` there is the honest type.
    files: ['**/test/**', 'bench/**', 'packages/testing/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
