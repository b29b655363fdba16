/// <reference path="./transflow-template-types.d.ts" />
declare module 'transflow:template/workspace@0.1.0' {
  /**
   * The files the current step receives: the results of every step it `use`s, and the
   * uploads when it uses `:original`.
   */
  export function inputs(): Array<InputFile>;
  /**
   * Reserves an output of the current step and returns the workspace-relative path to
   * hand to ffmpeg. `name` may contain sub-directories and ffmpeg patterns such as
   * `thumb_%02d.jpg`; the host creates the directories.
   */
  export function reserveOutput(name: string): string;
  /**
   * Files the current step has written under its outputs and not yet emitted,
   * as workspace-relative paths in name order.
   */
  export function pendingOutputs(): Array<string>;
  /**
   * Records a file the current step wrote as one of its results. `original-id` names the
   * upload it derives from; by default the first input's.
   */
  export function emit(path: string, originalId: string | undefined): EmittedFile;
  /**
   * The assembly's user fields, as given when the assembly was created.
   */
  export function fields(): Array<[string, string]>;
  export type Error = import('transflow:template/types@0.1.0').Error;
  export type InputFile = import('transflow:template/types@0.1.0').InputFile;
  export type EmittedFile = import('transflow:template/types@0.1.0').EmittedFile;
}
