/// <reference path="../generated/template.d.ts" />
/// <reference path="./globals.d.ts" />
/**
 * Write Transflow templates in TypeScript.
 *
 * A template is a WebAssembly component that describes a pipeline of steps and runs them one at
 * a time inside the Transflow host. It never reads media bytes itself: it asks the host for its
 * inputs (workspace paths), reserves output paths, runs ffmpeg on the host with those paths, and
 * emits the files it made as results. The names follow the Rust SDK (`transflow-sdk`), in
 * camelCase.
 *
 * ```ts
 * import { Context, ORIGINAL, StepInfo, TemplateInfo, exportTemplate } from '@transflow/template-sdk';
 *
 * export const pipeline = exportTemplate({
 *   describe: () =>
 *     new TemplateInfo('poster', 'One JPEG frame from the middle of each video')
 *       .step(new StepInfo('poster', 'the middle frame').uses(ORIGINAL)),
 *   runStep(_step: string, ctx: Context) {
 *     for (const input of ctx.inputs()) {
 *       const at = (input.duration() ?? 0) / 2;
 *       const out = ctx.reserveOutput(`${input.stem}.jpg`);
 *       ctx.ffmpeg(['-ss', at.toFixed(3), '-i', input.path, '-frames:v', '1', out]).run();
 *       ctx.emit(out, input.originalId);
 *     }
 *   },
 * });
 * ```
 *
 * Output names are built from `input.stem`, never from the raw `name` or `basename`: an upload
 * may be called `50% off.mp4` or `concat:x.mp4`, which ffmpeg would read as an image pattern or
 * a protocol. The stem is that name made safe (`50_off`, `concat_x`; see `safeStem`), so every
 * upload name the API accepts gives results.
 *
 * The bindings generated from `wit/transflow.wit` (in `generated/`) stay behind this module;
 * its own types are the API, so templates keep compiling when the contract grows.
 */
import type * as pipeline from 'transflow:template/pipeline@0.1.1';
import { Context } from './context';
import { StepError } from './errors';
import type { TemplateInfo } from './describe';

export { Context, Input, type EmittedFile, type LogLevel, type MediaMeta } from './context';
export { ORIGINAL, StepInfo, TemplateInfo, type Webhook } from './describe';
export { StepError, type HostError } from './errors';
export { FfmpegRun, SpawnedRun, joinAll } from './ffmpeg';
export { STEM_MAX, safeStem } from './stem';

/**
 * What a template implements. The host calls `describe` to learn the steps, then `runStep` once
 * per step in dependency order.
 */
export interface Template {
  /** The template's id, steps, fields and optional webhook. Must not call host functions. */
  describe(): TemplateInfo;
  /**
   * Runs one step; `ctx` gives its inputs, outputs, fields, ffmpeg and progress. Host calls
   * block until done, so a step is plain synchronous code. Throwing fails the step: a
   * `StepError` as it is, a host error with its own code, anything else as `StepError.failed`.
   */
  runStep(step: string, ctx: Context): void;
}

/** The `pipeline` export of the component. */
export interface Pipeline {
  describe(): pipeline.TemplateInfo;
  runStep(step: string): void;
}

/**
 * Exports a `Template` as the component's pipeline. Use it once, in the template's entry module:
 * `export const pipeline = exportTemplate(myTemplate);`
 */
export function exportTemplate(template: Template): Pipeline {
  return {
    describe: () => template.describe().toWit(),
    runStep(step: string): void {
      let returned: unknown;
      try {
        returned = template.runStep(step, new Context(step));
      } catch (thrown) {
        // The bindings hand a thrown value's `payload` to the host as the `err` case.
        throw StepError.from(thrown);
      }
      if (returned instanceof Promise) {
        throw StepError.failed(
          'runStep returned a Promise: steps must be synchronous (host calls already wait), so drop `async`',
        );
      }
    },
  };
}
