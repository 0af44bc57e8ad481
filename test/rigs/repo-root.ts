// Finds the repository root from a compiled file's URL. Tests run from dist/test/rigs/*.js, while
// non-TypeScript assets (the shim's C source) stay in test/rigs/ in the repository, so paths to
// them must be resolved from the root, not from the running file.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findRepoRoot(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
}
