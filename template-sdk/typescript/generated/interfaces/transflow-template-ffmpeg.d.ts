/// <reference path="./transflow-template-types.d.ts" />
declare module 'transflow:template/ffmpeg@0.1.0' {
  /**
   * Runs ffmpeg with `args` (without the program name). The host adds its own safety
   * options (`-nostdin`, protocol and format whitelists, progress reporting) and refuses,
   * before starting anything, any argument that names an absolute path, climbs out with
   * `..`, uses a URL or protocol prefix, or uses a filter or option that reads files
   * outside the workspace. Outputs must be paths returned by `workspace.reserve-output`.
   */
  export function run(args: Array<string>, options: RunOptions): void;
  /**
   * Probes a workspace file and returns its metadata.
   */
  export function probe(path: string): MediaMeta;
  /**
   * Probes a workspace file and returns ffprobe's full JSON (`-show_format -show_streams`),
   * for templates that need more than `media-meta`.
   */
  export function probeJson(path: string): string;
  export type Error = import('transflow:template/types@0.1.0').Error;
  export type MediaMeta = import('transflow:template/types@0.1.0').MediaMeta;
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
}
