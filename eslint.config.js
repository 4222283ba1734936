// Lint: type-aware rules that catch real bugs (floating promises), type-only
// imports kept separate, no console outside the CLI's output layer, no `.only`.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'proto/src/gen/**', 'models/**', 'out/**', 'data/**', '**/*.js'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['vitest.config.ts', 'eslint.config.js'] }, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      'no-console': 'error',
      'no-restricted-imports': ['error', { patterns: [{ group: ['@latentfarm/*/src/*'], message: 'import a part only through its public entry' }] }],
      'no-restricted-properties': ['error',
        { object: 'describe', property: 'only', message: 'no .only in committed tests' },
        { object: 'it', property: 'only', message: 'no .only in committed tests' },
        { object: 'test', property: 'only', message: 'no .only in committed tests' }],
    },
  },
  { files: ['cli/src/output.ts'], rules: { 'no-console': 'off' } },
);
