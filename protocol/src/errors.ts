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

/** One entry of a deployable's error table: English, Vietnamese, and the HTTP status if any. */
export interface ErrorText {
  en: string;
  vi: string;
  status?: number;
}

export type ErrorDetail = string | { en: string; vi: string };

/**
 * Turns a deployable's error table into its factory. A detail is appended to the generic
 * sentence ("Invalid request: start is in the past"); a plain string is used for both
 * languages (technical detail such as a file name). The status travels in `details.httpStatus`.
 */
export function errorFactory<C extends string>(table: Record<C, ErrorText>) {
  return (code: C, detail?: ErrorDetail, details?: Record<string, unknown>): LoaError => {
    const spec = table[code];
    const d = typeof detail === 'string' ? { en: detail, vi: detail } : detail;
    return new LoaError(code, d ? `${spec.en}: ${d.en}` : spec.en, d ? `${spec.vi}: ${d.vi}` : spec.vi, {
      ...(spec.status !== undefined ? { httpStatus: spec.status } : {}),
      ...details,
    });
  };
}
