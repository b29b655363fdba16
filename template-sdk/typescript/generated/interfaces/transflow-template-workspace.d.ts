/// <reference path="./transflow-template-types.d.ts" />
declare module 'transflow:template/workspace@0.1.1' {
  /**
   * The files the current step receives: the results of every step it `use`s, and the
   * uploads when it uses `:original`.
   */
  export function inputs(): Array<InputFile>;
  /**
   * Reserves an output of the current step and returns the workspace-relative path to
   * hand to ffmpeg. `name` may contain sub-directories and ffmpeg patterns such as
   * `thumb_%02d.jpg`; the host creates the directories. Reserving a name again returns the
   * same path.
   * 
   * Names are `/`-separated components of ASCII letters, digits, `.`, `_` and `-`; no
   * component is empty, `.` or `..`, or starts with `.` or `-`. `%` appears only in ffmpeg's
   * pattern forms `%d`, `%0Nd` (N from 1 to 9), `%v` and `%%`. Glob characters (`*?[]{}`),
   * spaces, `:` and anything outside ASCII are refused. A name breaking these rules fails
   * with `invalid-request`. (Build names from an input's stem, not its raw name.)
   * 
   * Bounds, each failing with `limit-exceeded`: a name has at most 200 bytes, at most 4
   * components and at most 100 bytes per component, and one step reserves at most 256
   * distinct names; reserve one pattern (`frame_%03d.jpg`) rather than one name per file.
   * The same name rules apply to every output path given to ffmpeg.
   */
  export function reserveOutput(name: string): string;
  /**
   * Files the current step has written under its outputs and not yet emitted (under any
   * name), as workspace-relative paths in name order.
   */
  export function pendingOutputs(): Array<string>;
  /**
   * Records a file the current step wrote as one of its results. `original-id` names the
   * upload it derives from; by default the first input's.
   * 
   * `path` is spelled as `reserve-output` or `pending-outputs` gives it: `out/{step}/…` with
   * no empty, `.` or `..` components (`out/s/./x.ts` and `out/s//x.ts` fail with
   * `invalid-request`). A symlink counts as the file it points to, which must lie in the
   * step's own outputs. Each file is emitted once: emitting it again under another name
   * (a symlink or hard link to it) fails with `invalid-request`. The host keeps the file
   * when the step ends and records the size and MD5 of the bytes it kept; a file changed
   * after it was emitted is not kept and fails the step, so emit a file once it is complete.
   */
  export function emit(path: string, originalId: string | undefined): EmittedFile;
  /**
   * The assembly's user fields, as given when the assembly was created.
   */
  export function fields(): Array<[string, string]>;
  export type Error = import('transflow:template/types@0.1.1').Error;
  export type InputFile = import('transflow:template/types@0.1.1').InputFile;
  export type EmittedFile = import('transflow:template/types@0.1.1').EmittedFile;
}
