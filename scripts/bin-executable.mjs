// After the build: the CLI's entry file must be executable, because `npx loalang` (the README's
// first command) runs it as a program. tsc writes its output without the executable bit, and on
// a fresh clone npm links the package's bin before `prepare` has built it, so npm cannot set it.
import { chmodSync } from 'node:fs';

chmodSync(new URL('../cli/dist/main.js', import.meta.url), 0o755);
