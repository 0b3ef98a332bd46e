import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// Everything is bundled and served by the LoaLang server itself: no CDN, no internet.
export default defineConfig({
  plugins: [preact()],
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
});
