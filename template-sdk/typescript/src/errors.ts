// Errors a step throws. Host errors pass through unchanged so the assembly status can say exactly
// which tool failed and why.
import * as log from 'transflow:template/log@0.1.1';
import type * as pipeline from 'transflow:template/pipeline@0.1.1';
import type * as types from 'transflow:template/types@0.1.1';

/** A failed host call: a tool failure, a refused argument, a bad input, a missing file, a limit. */
export type HostError = types.Error;

/**
 * Why a step failed. Throw one from `runStep`; anything else a step throws becomes
 * `StepError.failed` with its message, and host errors keep their own code.
 */
export class StepError extends Error {
  /** The WIT `step-error` the host receives. */
  readonly payload: pipeline.StepError;

  private constructor(payload: pipeline.StepError, message: string) {
    super(message);
    this.name = 'StepError';
    this.payload = payload;
  }

  /** The template's own logic failed; `message` is shown to the user. */
  static failed(message: string): StepError {
    return new StepError({ tag: 'failed', val: message }, message);
  }

  /** A user field has a value the template cannot use. */
  static invalidField(field: string, value: string, expected: string): StepError {
    return new StepError(
      { tag: 'invalid-field', val: { field, value, expected } },
      `field \`${field}\` is \`${value}\`; expected ${expected}`,
    );
  }

  /** A host call failed; the host turns it into the status error. */
  static host(error: HostError): StepError {
    return new StepError({ tag: 'host', val: error }, `${error.tag}: ${JSON.stringify(error.val)}`);
  }

  /** What a step threw, as a `StepError`. */
  static from(thrown: unknown): StepError {
    if (thrown instanceof StepError) return thrown;
    if (isHostFailure(thrown)) return StepError.host(thrown.payload);
    if (thrown instanceof Error) {
      // The stack is for the template's author: it goes to the assembly log, not the status.
      if (thrown.stack) log.write('error', `${thrown.name}: ${thrown.message}\n${thrown.stack}`);
      return StepError.failed(thrown.message || thrown.name);
    }
    return StepError.failed(String(thrown));
  }
}

/** Calls a host function, turning its error result into a `StepError`. */
export function host<T>(call: () => T): T {
  try {
    return call();
  } catch (thrown) {
    throw StepError.from(thrown);
  }
}

/** What the bindings throw when a host function returns `err`: an error with a `payload`. */
function isHostFailure(thrown: unknown): thrown is { payload: HostError } {
  if (typeof thrown !== 'object' || thrown === null || !('payload' in thrown)) return false;
  const payload = (thrown as { payload: unknown }).payload;
  return typeof payload === 'object' && payload !== null && 'tag' in payload;
}
