declare module 'transflow:template/status@0.1.1' {
  /**
   * Reports how much of the current step is done, from 0.0 to 1.0, with an optional
   * short message. Values are clamped; progress never goes backwards.
   */
  export function progress(fraction: number, message: string | undefined): void;
}
