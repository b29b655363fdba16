#!/usr/bin/env node
// Generates the TypeScript declarations of the `transflow:template` world from `wit/` with jco,
// into `generated/`. With `--check`, generates into a scratch directory instead and fails when
// the committed declarations differ, so the SDK can never drift from the WIT the host uses.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const sdk = dirname(dirname(fileURLToPath(import.meta.url)));
const root = join(sdk, '..', '..');
const committed = join(sdk, 'generated');
const check = process.argv.includes('--check');

const out = check ? mkdtempSync(join(tmpdir(), 'transflow-bindings-')) : committed;
try {
  generate(out);
  if (check) {
    const stale = differences(out, committed);
    if (stale.length > 0) {
      console.error(`template-sdk/typescript/generated is out of date with wit/: ${stale.join(', ')}`);
      console.error('hint: run `npm run bindings` in template-sdk/typescript and commit the result');
      process.exit(1);
    }
    console.error('template-sdk/typescript/generated matches wit/');
  }
} finally {
  if (check) rmSync(out, { recursive: true, force: true });
}

function generate(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  // jco runs as WebAssembly with the working directory as its only view of the file system,
  // so the WIT path must be relative to it.
  const jco = join(sdk, 'node_modules', '@bytecodealliance', 'jco', 'src', 'jco.js');
  const result = spawnSync(
    process.execPath,
    [jco, 'guest-types', 'wit', '--world-name', 'template', '--quiet', '--out-dir', relative(root, outDir) || '.'],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (result.status !== 0) {
    console.error('jco guest-types failed\nhint: run `npm ci` in template-sdk/typescript (scripts/setup.sh does)');
    process.exit(1);
  }
}

/** Relative paths that are missing from, extra in, or different between two trees. */
function differences(fresh, kept) {
  const files = new Set([...walk(fresh), ...walk(kept)]);
  return [...files].sort().filter((file) => {
    const a = join(fresh, file);
    const b = join(kept, file);
    return !existsSync(a) || !existsSync(b) || !readFileSync(a).equals(readFileSync(b));
  });
}

function walk(dir, prefix = '') {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name), join(prefix, entry.name)) : [join(prefix, entry.name)],
  );
}
