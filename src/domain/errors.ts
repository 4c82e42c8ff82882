/**
 * The closed catalogue of errors a client can see. Every error is built by a named factory below;
 * `http/graph-error.ts` maps each `kind` to one HTTP status and renders Graph's error envelope.
 */
export type ErrorKind =
  | 'badRequest'
  | 'unauthenticated'
  | 'forbidden'
  | 'notFound'
  | 'methodNotAllowed'
  | 'notAcceptable'
  | 'conflict'
  | 'payloadTooLarge'
  | 'unsupportedMediaType'
  | 'tooManyRequests'
  | 'serviceUnavailable'
  | 'internal';

export class BulwarkError extends Error {
  override readonly name = 'BulwarkError';
  constructor(
    readonly kind: ErrorKind,
    /** Graph error `code`, never empty. */
    readonly code: string,
    message: string,
    readonly details: { target?: string; retryAfterSeconds?: number } = {},
  ) {
    super(message);
  }
}

export function isBulwarkError(e: unknown): e is BulwarkError {
  return e instanceof BulwarkError;
}

export const errors = {
  badRequest: (message: string, target?: string) => new BulwarkError('badRequest', 'BadRequest', message, target ? { target } : {}),
  invalidQuery: (message: string) => new BulwarkError('badRequest', 'BadRequest', message),
  invalidAction: (message: string, target?: string) =>
    new BulwarkError('badRequest', 'InvalidAction', message, target ? { target } : {}),
  noProvider: (message: string) => new BulwarkError('badRequest', 'ProviderNotFound', message),
  protectedIndicator: (message: string) => new BulwarkError('badRequest', 'ProtectedIndicator', message),
  malformedJson: (message: string) => new BulwarkError('badRequest', 'BadRequest', message),
  unauthenticated: (message: string) => new BulwarkError('unauthenticated', 'InvalidAuthenticationToken', message),
  forbidden: (message: string) => new BulwarkError('forbidden', 'Authorization_RequestDenied', message),
  notFound: (message: string) => new BulwarkError('notFound', 'ResourceNotFound', message),
  actionNotFound: (id: string) =>
    new BulwarkError('notFound', 'ResourceNotFound', `The securityAction '${truncate(id, 80)}' does not exist.`),
  methodNotAllowed: (method: string, path: string) =>
    new BulwarkError('methodNotAllowed', 'MethodNotAllowed', `The method '${method}' is not allowed on '${truncate(path, 120)}'.`),
  notAcceptable: (message: string) => new BulwarkError('notAcceptable', 'NotAcceptable', message),
  conflict: (message: string) => new BulwarkError('conflict', 'Conflict', message),
  payloadTooLarge: (limitBytes: number) =>
    new BulwarkError('payloadTooLarge', 'RequestEntityTooLarge', `The request body exceeds the limit of ${limitBytes} bytes.`),
  unsupportedMediaType: (got: string | undefined) =>
    new BulwarkError(
      'unsupportedMediaType',
      'UnsupportedMediaType',
      `Content-Type '${truncate(got ?? '(none)', 80)}' is not supported; send application/json.`,
    ),
  tooManyRequests: (retryAfterSeconds: number) =>
    new BulwarkError('tooManyRequests', 'TooManyRequests', 'Too many requests; retry later.', { retryAfterSeconds }),
  serviceUnavailable: (message: string, retryAfterSeconds = 1) =>
    new BulwarkError('serviceUnavailable', 'ServiceUnavailable', message, { retryAfterSeconds }),
  internal: () => new BulwarkError('internal', 'InternalServerError', 'An internal error occurred.'),
} as const;

/** Shortens untrusted text before it is echoed in an error message. */
export function truncate(text: string, max: number): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
