declare module 'transflow:template/log@0.1.1' {
  /**
   * Writes one log line; long lines are truncated by the host.
   */
  export function write(level: Level, message: string): void;
  /**
   * Severity of a log line.
   * # Variants
   * 
   * ## `"debug"`
   * 
   * Detail for template authors.
   * ## `"info"`
   * 
   * Normal progress.
   * ## `"warn"`
   * 
   * Something odd that did not stop the step.
   * ## `"error"`
   * 
   * Something failed.
   */
  export type Level = 'debug' | 'info' | 'warn' | 'error';
}
