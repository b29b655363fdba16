// Builders for what `describe()` returns.
import type * as pipeline from 'transflow:template/pipeline@0.1.1';

/** The `uses` entry that means "the assembly's uploads". */
export const ORIGINAL = ':original';

/** Where to POST the assembly status when an assembly ends. */
export interface Webhook {
  /** Endpoint URL. */
  url: string;
  /** Name of a signing secret in the host configuration (never the secret itself). */
  secretName?: string;
}

/** A template's id, description, steps, fields and optional webhook. */
export class TemplateInfo {
  private readonly steps: StepInfo[] = [];
  private readonly fields: pipeline.FieldInfo[] = [];
  private hook?: Webhook;

  /** A template with no steps yet. */
  constructor(
    readonly id: string,
    readonly description: string,
  ) {}

  /** Adds a step; the host runs steps in dependency order. */
  step(step: StepInfo): this {
    this.steps.push(step);
    return this;
  }

  /** Documents a user field the template reads. */
  field(name: string, description: string, defaultValue?: string): this {
    this.fields.push({ name, description, defaultValue });
    return this;
  }

  /** Posts the assembly status to `webhook` when an assembly ends. */
  webhook(webhook: Webhook): this {
    this.hook = webhook;
    return this;
  }

  /** The WIT record the host reads. */
  toWit(): pipeline.TemplateInfo {
    return {
      id: this.id,
      description: this.description,
      steps: this.steps.map((step) => step.toWit()),
      fields: [...this.fields],
      webhook: this.hook && { url: this.hook.url, secretName: this.hook.secretName },
    };
  }
}

/** One step of a pipeline. */
export class StepInfo {
  private readonly used: string[] = [];

  /** A step that uses nothing yet; add `uses`. */
  constructor(
    readonly name: string,
    readonly description: string,
  ) {}

  /** Consumes the results of `step`, or the uploads when `step` is `ORIGINAL`. */
  uses(step: string): this {
    this.used.push(step);
    return this;
  }

  /** The WIT record the host reads. */
  toWit(): pipeline.StepInfo {
    return { name: this.name, description: this.description, uses: [...this.used] };
  }
}
