/** Why the code could not be prepared; `code` is stable for grepping. The tool exits non-zero. */
export class PrepareError extends Error {
  override readonly name = 'PrepareError';
  readonly retriable = false;
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
