/**
 * QMP error classes (qapi/error.json QapiErrorClass) and the mapping of exceptions to them: a
 * QmpError carries its class, any other Error becomes a GenericError with its message, as QEMU's
 * error_setg does for nearly everything.
 */

export type QmpErrorClass =
  'GenericError' | 'CommandNotFound' | 'DeviceNotActive' | 'DeviceNotFound' | 'KVMMissingCap';

/** The `error` member of an error response. */
export interface QmpErrorBody {
  readonly class: QmpErrorClass;
  readonly desc: string;
}

/** Thrown by command handlers for an error with a class other than GenericError (or any class). */
export class QmpError extends Error {
  readonly errorClass: QmpErrorClass;

  constructor(errorClass: QmpErrorClass, desc: string, options?: ErrorOptions) {
    super(desc, options);
    this.name = 'QmpError';
    this.errorClass = errorClass;
  }

  /** error_setg: a GenericError. */
  static generic(desc: string): QmpError {
    return new QmpError('GenericError', desc);
  }

  toBody(): QmpErrorBody {
    return { class: this.errorClass, desc: this.message };
  }
}

/** The QMP error for anything a handler threw. */
export function toQmpError(e: unknown): QmpError {
  if (e instanceof QmpError) return e;
  if (e instanceof Error) return new QmpError('GenericError', e.message, { cause: e });
  return new QmpError('GenericError', String(e));
}
