import { defineConfig } from 'vite';

/**
 * The console's pages, built into `packages/server/console/`, where the node serves them at
 * `/console` (see transports/http/console-pages.ts). Assets get hashed names under `assets/`.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  build: {
    target: 'es2022',
    outDir: '../server/console',
    emptyOutDir: true,
    reportCompressedSize: true,
  },
  server: { proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true } } },
});
