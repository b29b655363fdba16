#!/usr/bin/env node
// transflow-template-build: type-checks a TypeScript (or JavaScript) template, bundles it with
// the SDK into one ES module, and makes a `transflow:template` component of it with
// componentize-js.
//
//   transflow-template-build [DIR] [--out FILE]
//
// DIR holds the template's package.json (default: the current directory); its `main` names the
// entry module (default `src/index.ts`). The component goes to FILE (default `DIR/dist/template.wasm`).
//
// componentize-js snapshots a live JavaScript heap, so two builds of one source differ byte for
// byte. A fingerprint of everything that goes in (bundled source, WIT, toolchain) is kept beside
// the component, and an unchanged template is not rebuilt: its version (the sha256 of the
// component) stays the same, as a Rust template's does.
import { componentize } from '@bytecodealliance/componentize-js';
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const sdk = dirname(dirname(fileURLToPath(import.meta.url)));
const sdkEntry = join(sdk, 'src', 'index.ts');
const wit = join(sdk, '..', '..', 'wit');
// The host offers no network to templates, so neither wasi:http nor a fetch handler is linked in.
const DISABLED_FEATURES = ['http', 'fetch-event'];

const { dir, out } = parseArgs(process.argv.slice(2));
const manifest = readManifest(dir);
const entry = resolve(dir, manifest.main ?? 'src/index.ts');
if (!existsSync(entry)) fail(`the entry module ${entry} does not exist\nhint: set "main" in ${join(dir, 'package.json')}`);

const started = Date.now();
if (/\.[cm]?tsx?$/.test(entry)) typeCheck(entry);
const source = await bundle(entry);
const fingerprint = fingerprintOf(source);
const fingerprintPath = `${out}.inputs-sha256`;
if (existsSync(out) && existsSync(fingerprintPath) && readFileSync(fingerprintPath, 'utf8') === fingerprint) {
  console.error(`${out} is up to date`);
  process.exit(0);
}
const scratch = mkdtempSync(join(tmpdir(), 'transflow-template-'));
let built;
try {
  const sourcePath = join(scratch, 'template.js');
  writeFileSync(sourcePath, source);
  built = await componentize({
    sourcePath,
    witPath: wit,
    worldName: 'template',
    disableFeatures: DISABLED_FEATURES,
  }).catch((error) => ({ error }));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (built.error) fail(`componentize-js failed: ${built.error.message ?? built.error}`);
const { component } = built;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, component);
writeFileSync(fingerprintPath, fingerprint);
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.error(`built ${out} (${(component.length / 1048576).toFixed(1)} MiB in ${seconds} s)`);

function parseArgs(args) {
  let dir = '.';
  let out;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') out = args[++i];
    else if (args[i] === '--help' || args[i] === '-h') {
      console.error('usage: transflow-template-build [DIR] [--out FILE]');
      process.exit(0);
    } else if (args[i].startsWith('-')) fail(`unknown option ${args[i]}\nusage: transflow-template-build [DIR] [--out FILE]`);
    else dir = args[i];
  }
  dir = resolve(dir);
  return { dir, out: resolve(out ?? join(dir, 'dist', 'template.wasm')) };
}

function readManifest(dir) {
  const path = join(dir, 'package.json');
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fail(`cannot read ${path}: ${error.message}`);
  }
}

/** Full TypeScript type checking, strict, with the SDK and the WIT declarations in view. */
function typeCheck(entry) {
  const options = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    // The generated `ToolRun` is a `Disposable` (a `using` declaration drops the run).
    lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
    isolatedModules: true,
    paths: { '@transflow/template-sdk': [sdkEntry] },
  };
  const program = ts.createProgram([entry], options);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) {
    const host = {
      getCanonicalFileName: (name) => name,
      getCurrentDirectory: () => process.cwd(),
      getNewLine: () => '\n',
    };
    console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
    fail(`${diagnostics.length} TypeScript error(s) in ${entry}`);
  }
}

/** One ES module: the template and the SDK, with the world's interfaces left as imports. */
async function bundle(entry) {
  const sdkAlias = {
    name: 'transflow-template-sdk',
    setup(build) {
      build.onResolve({ filter: /^@transflow\/template-sdk$/ }, () => ({ path: sdkEntry }));
    },
  };
  const result = await esbuild
    .build({
      entryPoints: [entry],
      // Paths in the bundle's comments are relative to this, so the fingerprint is the same
      // from whichever directory the build runs.
      absWorkingDir: dirname(entry),
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      external: ['transflow:template/*'],
      plugins: [sdkAlias],
      logLevel: 'silent',
    })
    .catch((error) => {
      const messages = error.errors ?? [];
      const text = esbuild.formatMessagesSync(messages, { kind: 'error', color: process.stderr.isTTY });
      console.error(text.join(''));
      fail(`bundling ${entry} failed`);
    });
  return result.outputFiles[0].text;
}

/** sha256 of the bundled source, the WIT files and the componentize-js version and options. */
function fingerprintOf(source) {
  const hash = createHash('sha256').update(source);
  for (const file of readdirSync(wit).filter((f) => f.endsWith('.wit')).sort()) {
    hash.update(`\0${file}\0`).update(readFileSync(join(wit, file)));
  }
  const componentizeJs = JSON.parse(
    readFileSync(join(sdk, 'node_modules', '@bytecodealliance', 'componentize-js', 'package.json'), 'utf8'),
  );
  return hash.update(`\0${componentizeJs.version}\0${DISABLED_FEATURES.join(',')}`).digest('hex');
}

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}
