import { expect } from 'vitest';
import { BulwarkError } from '../../src/domain/errors.js';

/** Runs `fn`, asserts it throws a 400 BulwarkError, and returns the message for further checks. */
export function queryErrorOf(fn: () => unknown): string {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a BulwarkError').toBeInstanceOf(BulwarkError);
  const error = thrown as BulwarkError;
  expect(error.kind).toBe('badRequest');
  expect(error.code).toBe('BadRequest');
  return error.message;
}
