import { defineConfig } from 'vite';
import { resolve } from 'node:path';

// Fixed output names (no content hashes) so that `npm ci && npm run build`
// reproduces web/dist byte for byte; the server embeds web/dist.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2020',
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, 'index.html'),
        console: resolve(import.meta.dirname, 'console/index.html'),
        app: resolve(import.meta.dirname, 'app/index.html'),
        map: resolve(import.meta.dirname, 'map/index.html'),
      },
      output: {
        entryFileNames: 'assets/[name].js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
