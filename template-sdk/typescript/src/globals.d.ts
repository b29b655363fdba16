// What the StarlingMonkey runtime offers a template beyond ECMAScript itself, and that the
// helpers use. `console` writes to the component's stdio, which the host keeps for crash reports.
declare const console: {
  log(...data: unknown[]): void;
  error(...data: unknown[]): void;
};
