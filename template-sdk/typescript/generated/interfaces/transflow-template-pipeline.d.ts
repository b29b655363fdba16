/// <reference path="./transflow-template-types.d.ts" />
declare module 'transflow:template/pipeline@0.1.1' {
  /**
   * Describes the template. Must be cheap and must not call host functions.
   * 
   * The host refuses to load a template whose description exceeds its bounds, naming the
   * bound: at most 64 steps, each with at most 64 distinct `uses` entries; at most 64
   * fields, with names of 1 to 64 bytes; ids, step names and webhook secret names of at
   * most 64 bytes; descriptions and default values of at most 1,000 bytes; a webhook URL
   * of at most 2,048 bytes.
   */
  export function describe(): TemplateInfo;
  /**
   * Runs the named step. Its inputs, outputs and progress are those of that step.
   */
  export function runStep(step: string): void;
  export type Error = import('transflow:template/types@0.1.1').Error;
  /**
   * One step of the pipeline.
   */
  export interface StepInfo {
    /**
     * Unique name within the template, e.g. `thumbnails`. Used in output paths and status.
     */
    name: string,
    /**
     * One line on what the step makes.
     */
    description: string,
    /**
     * What the step consumes: `:original` for the uploads, or names of earlier steps.
     */
    uses: Array<string>,
  }
  /**
   * A user field the template reads, documented for the API and the web page.
   */
  export interface FieldInfo {
    /**
     * Field name, e.g. `height`.
     */
    name: string,
    /**
     * What it controls and which values it accepts.
     */
    description: string,
    /**
     * The value used when the field is absent.
     */
    defaultValue?: string,
  }
  /**
   * Where to POST the assembly status when it ends.
   */
  export interface Webhook {
    /**
     * The endpoint URL.
     */
    url: string,
    /**
     * Name of a signing secret held in the host's configuration. Secrets themselves
     * never live in templates.
     */
    secretName?: string,
  }
  /**
   * Everything the host needs to know about a template before running it.
   */
  export interface TemplateInfo {
    /**
     * Template id, e.g. `video-encode`.
     */
    id: string,
    /**
     * One line on what the template does.
     */
    description: string,
    /**
     * Steps; the host runs them in dependency order.
     */
    steps: Array<StepInfo>,
    /**
     * User fields the template reads.
     */
    fields: Array<FieldInfo>,
    /**
     * Optional webhook fired when an assembly of this template ends.
     */
    webhook?: Webhook,
  }
  /**
   * A user field has a value the template cannot use.
   */
  export interface InvalidField {
    /**
     * Field name.
     */
    field: string,
    /**
     * The value given.
     */
    value: string,
    /**
     * What would have been accepted, e.g. `an integer from 16 to 4320`.
     */
    expected: string,
  }
  /**
   * Why a step failed.
   */
  export type StepError = StepErrorHost | StepErrorInvalidField | StepErrorFailed;
  /**
   * A host call failed and the template passed the error on.
   */
  export interface StepErrorHost {
    tag: 'host',
    val: Error,
  }
  /**
   * A user field is invalid.
   */
  export interface StepErrorInvalidField {
    tag: 'invalid-field',
    val: InvalidField,
  }
  /**
   * The template's own logic failed, with a message for the user.
   */
  export interface StepErrorFailed {
    tag: 'failed',
    val: string,
  }
}
