import { resolve } from 'node:path';
import { defineConfig } from 'vite';

/** The demo pages: one HTML entry each, bundled from the workspace packages' TypeScript sources. */
export default defineConfig({
  root: 'web',
  resolve: { conditions: ['source', 'module', 'browser', 'development|production'] },
  esbuild: { jsx: 'automatic' },
  build: {
    target: 'es2022',
    outDir: '../dist/web',
    emptyOutDir: true,
    rollupOptions: {
      input: Object.fromEntries(
        ['index', 'story', 'opaque', 'chat', 'reactions'].map((p) => [
          p,
          resolve(import.meta.dirname, `web/${p}.html`),
        ]),
      ),
    },
  },
  server: { proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true }, '/demo': 'http://127.0.0.1:8080' } },
});
