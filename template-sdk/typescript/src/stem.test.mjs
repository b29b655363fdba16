#!/usr/bin/env node
// `safeStem` against the cases the Rust and Python SDKs are tested on too
// (`template-sdk/src/stem_cases.json`). Run: `node src/stem.test.mjs` in template-sdk/typescript
// (after `npm ci`; esbuild turns `stem.ts` into JavaScript for Node).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { transformSync } from 'esbuild';

const here = new URL('.', import.meta.url);
const source = readFileSync(new URL('stem.ts', here), 'utf8');
const { code } = transformSync(source, { loader: 'ts', format: 'esm', target: 'es2022' });
const { STEM_MAX, safeStem } = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
const cases = JSON.parse(readFileSync(new URL('../../src/stem_cases.json', here), 'utf8'));

test('every shared case gives its stem', () => {
  assert.ok(cases.length >= 30, `${cases.length} cases`);
  for (const [name, expected] of cases) {
    assert.equal(safeStem(name), expected, `stem of ${JSON.stringify(name)}`);
  }
});

test('stems are safe, short, stable and idempotent', () => {
  for (const [name] of cases) {
    const stem = safeStem(name);
    assert.ok(stem.length > 0 && stem.length <= STEM_MAX, stem);
    assert.match(stem, /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/);
    assert.equal(safeStem(name), stem, 'stable');
    assert.equal(safeStem(stem), stem, 'a stem is its own stem');
  }
});
