import type { FastifyInstance } from 'fastify';
import { errors } from '../domain/errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON and form bodies. An empty JSON body parses to `undefined` (Kiota's cancel sends no body,
 * other clients send `{}` or an empty body with a JSON content type); routes decide what they
 * need. Keys that could poison prototypes are rejected rather than silently dropped.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  const parseJson = (_req: unknown, body: string | Buffer, done: (err: Error | null, value?: unknown) => void) => {
    let text: string;
    try {
      // JSON is UTF-8 (RFC 8259 §8.1): invalid bytes are refused, not silently replaced by U+FFFD.
      text = typeof body === 'string' ? body : utf8.decode(body);
    } catch {
      return done(errors.malformedJson('The request body is not valid UTF-8.'), undefined);
    }
    if (text.trim() === '') return done(null, undefined);
    try {
      const value: unknown = text.includes('__proto__') || text.includes('constructor')
        ? JSON.parse(text, (key, v: unknown) => {
            if (key === '__proto__' || (key === 'constructor' && v !== null && typeof v === 'object' && 'prototype' in v)) {
              throw new SyntaxError('forbidden key');
            }
            return v;
          })
        : JSON.parse(text);
      done(null, value);
    } catch (e) {
      if (e instanceof SyntaxError && e.message === 'forbidden key') {
        return done(errors.malformedJson("The request body contains the forbidden property name '__proto__' or 'constructor.prototype'."), undefined);
      }
      done(errors.malformedJson(`The request body is not valid JSON: ${(e as Error).message.slice(0, 120)}`), undefined);
    }
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseJson);
  app.addContentTypeParser(/^application\/[a-z.+-]*\+json$/, { parseAs: 'buffer' }, parseJson);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    const params = new URLSearchParams(body as string);
    const out: Record<string, string> = {};
    for (const [k, v] of params) {
      if (k in out) return done(errors.badRequest(`The form parameter '${k.slice(0, 40)}' is repeated.`), undefined);
      out[k] = v;
    }
    done(null, out);
  });
}
