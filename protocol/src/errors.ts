/**
 * Base error with a stable code callers can branch on and bilingual text for operators.
 * Each deployable declares its own codes (LOA_ERR_*) in one place and uses this class.
 */
export class LoaError extends Error {
  readonly code: string;
  readonly messageVi: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, messageVi: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'LoaError';
    this.code = code;
    this.messageVi = messageVi;
    this.details = details;
  }
}

export function isLoaError(err: unknown): err is LoaError {
  return err instanceof LoaError;
}
