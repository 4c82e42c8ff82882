import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BulwarkError, errors, type ErrorKind } from '../domain/errors.js';

/** The one table from error kind to HTTP status (house style §6). */
export const statusForKind: Readonly<Record<ErrorKind, number>> = {
  badRequest: 400,
  unauthenticated: 401,
  forbidden: 403,
  notFound: 404,
  methodNotAllowed: 405,
  notAcceptable: 406,
  conflict: 409,
  payloadTooLarge: 413,
  unsupportedMediaType: 415,
  tooManyRequests: 429,
  internal: 500,
  serviceUnavailable: 503,
};

/** Graph's error envelope: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`. */
export function graphErrorBody(e: BulwarkError, requestId: string, clientRequestId: string): string {
  return JSON.stringify({
    error: {
      code: e.code,
      message: e.message,
      ...(e.details.target ? { target: e.details.target } : {}),
      innerError: {
        date: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
        'request-id': requestId,
        'client-request-id': clientRequestId,
      },
    },
  });
}

/** Fastify's own errors (body parsing, limits) mapped to the catalogue. */
export function fromFastifyError(e: { code?: string; statusCode?: number; message?: string }): BulwarkError {
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errors.payloadTooLarge(bodyLimitBytes);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errors.unsupportedMediaType(undefined);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return errors.badRequest('The Content-Length header does not match the body.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return errors.malformedJson('The request body is empty; send a JSON object.');
    case 'FST_ERR_BAD_URL':
      return errors.badRequest('The request URL is malformed.');
    default:
      if (e.statusCode === 400 && e.message?.includes('JSON')) return errors.malformedJson('The request body is not valid JSON.');
      if (e.statusCode === 413) return errors.payloadTooLarge(bodyLimitBytes);
      if (e.statusCode === 415) return errors.unsupportedMediaType(undefined);
      if (e.statusCode === 414) return errors.badRequest('The request URL is too long.');
      if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return errors.badRequest('The request is malformed.');
      return errors.internal();
  }
}

export const bodyLimitBytes = 1024 * 1024;

export function sendGraphError(request: FastifyRequest, reply: FastifyReply, e: BulwarkError): FastifyReply {
  const status = statusForKind[e.kind];
  if (e.kind === 'unauthenticated') {
    const desc = e.message.replace(/["\\]/g, "'");
    reply.header('www-authenticate', `Bearer realm="bulwark", error="invalid_token", error_description="${desc}"`);
  }
  if (e.details.retryAfterSeconds !== undefined) reply.header('retry-after', String(e.details.retryAfterSeconds));
  return reply
    .code(status)
    .header('content-type', 'application/json')
    .send(graphErrorBody(e, request.id, clientRequestIdOf(request)));
}

export function clientRequestIdOf(request: FastifyRequest): string {
  return (request as FastifyRequest & { clientRequestId?: string }).clientRequestId ?? request.id;
}

/**
 * Node's HTTP parser refused the request (oversized request line or headers, malformed framing,
 * timeout) before Fastify saw it: answer in Graph's envelope on the raw socket, then close it.
 */
export function writeClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const e =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? errors.badRequest('The request line or headers are too large.')
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? errors.badRequest('The request was not received in time.')
          : errors.badRequest('The request is malformed.');
    const id = randomUUID();
    const body = graphErrorBody(e, id, id);
    socket.write(
      `HTTP/1.1 ${statusForKind[e.kind]} Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `request-id: ${id}\r\nclient-request-id: ${id}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
