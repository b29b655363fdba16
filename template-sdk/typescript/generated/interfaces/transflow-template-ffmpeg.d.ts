/// <reference path="./transflow-template-types.d.ts" />
declare module 'transflow:template/ffmpeg@0.1.1' {
  /**
   * Runs ffmpeg with `args` (without the program name). The host adds its own safety
   * options (`-nostdin`, protocol and format whitelists, progress reporting) and refuses,
   * before starting anything, any argument that names an absolute path, climbs out with
   * `..`, uses a URL or protocol prefix, or uses a filter or option that reads files
   * outside the workspace. Outputs must be paths returned by `workspace.reserve-output`.
   */
  export function run(args: Array<string>, options: RunOptions): void;
  /**
   * Starts ffmpeg as `run` does (same arguments, policy, limits and progress reporting) and
   * returns at once; `tool-run.wait` gives the outcome. The argument policy and unusable
   * inputs are checked before anything starts, so those errors come from `spawn` itself.
   * 
   * A step holds at most a host-set number of handles at a time (8 by default); one more
   * fails with `limit-exceeded` until a handle is dropped. Runs share the step's output
   * budget and deadline, and the host may queue them behind its own CPU budget.
   */
  export function spawn(args: Array<string>, options: RunOptions): ToolRun;
  /**
   * Probes a workspace file and returns its metadata.
   */
  export function probe(path: string): MediaMeta;
  /**
   * Probes a workspace file and returns ffprobe's full JSON (`-show_format -show_streams`),
   * for templates that need more than `media-meta`.
   */
  export function probeJson(path: string): string;
  export type Error = import('transflow:template/types@0.1.1').Error;
  export type MediaMeta = import('transflow:template/types@0.1.1').MediaMeta;
  /**
   * How a run reports progress: the host reads ffmpeg's `-progress` output and maps the
   * fraction done onto `[progress-start, progress-end]` of the current step.
   */
  export interface RunOptions {
    /**
     * Step progress (0.0–1.0) when the run starts.
     */
    progressStart: number,
    /**
     * Step progress (0.0–1.0) when the run ends.
     */
    progressEnd: number,
    /**
     * Expected output duration in seconds; defaults to the first input's duration.
     */
    duration?: number,
  }
  
  export class ToolRun implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    /**
    * Waits for the run to end and returns what `run` would have returned. Waiting a
    * second time on the same handle fails with `invalid-request`.
    */
    wait(): void;
    [Symbol.dispose](): void;
  }
}
