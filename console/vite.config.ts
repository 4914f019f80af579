/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import AutoImport from 'unplugin-auto-import/vite'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { fileURLToPath, URL } from 'node:url'

// The console is served by Flask at /console/ (history fallback to index.html); the API is /api/v1
// on the same origin. `npm run dev` proxies /api to a local Flask on port 5000 (CONSOLE_API_TARGET
// names another, e.g. http://127.0.0.1:5050 for a demo started with WEB_PORT=5050).
const apiTarget = process.env.CONSOLE_API_TARGET ?? 'http://127.0.0.1:5000'

export default defineConfig({
  base: '/console/',
  plugins: [
    vue(),
    // Element Plus on demand: only the components (and their CSS) a page uses end up in its chunk.
    AutoImport({ resolvers: [ElementPlusResolver()], dts: 'src/auto-imports.d.ts' }),
    Components({ resolvers: [ElementPlusResolver()], dts: 'src/components.d.ts' }),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  server: {
    port: 5173,
    proxy: { '/api': { target: apiTarget, changeOrigin: false } },
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
    server: { deps: { inline: ['element-plus'] } },
    // A test that mounts a page compiles it (and Element Plus) on first import: seconds when the
    // shared CI machine is busy. The limit only catches a hang; no test asserts on time.
    testTimeout: 20_000,
  },
})
