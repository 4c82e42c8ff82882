import { errors as jose } from 'jose';
import { errors, type BulwarkError } from '../domain/errors.js';

/** Turns a jose verification failure into a 401 that says what was wrong, never the token itself. */
export function joseToUnauthenticated(e: unknown): BulwarkError {
  if (e instanceof jose.JWTExpired) return errors.unauthenticated('The access token has expired.');
  if (e instanceof jose.JWTClaimValidationFailed) {
    switch (e.claim) {
      case 'nbf':
        return errors.unauthenticated('The access token is not yet valid (nbf).');
      case 'iss':
        return errors.unauthenticated('The access token was issued by an issuer this service does not trust.');
      case 'aud':
        return errors.unauthenticated('The access token audience (aud) is not accepted by this service.');
      default:
        return errors.unauthenticated(`The access token claim '${e.claim}' is invalid.`);
    }
  }
  if (e instanceof jose.JOSEAlgNotAllowed) return errors.unauthenticated('The access token signing algorithm is not allowed.');
  if (e instanceof jose.JWSSignatureVerificationFailed) return errors.unauthenticated('The access token signature is invalid.');
  if (e instanceof jose.JWKSNoMatchingKey) return errors.unauthenticated('The access token was signed with an unknown key.');
  if (e instanceof jose.JWKSTimeout || e instanceof jose.JWKSInvalid) {
    return errors.unauthenticated("The token issuer's signing keys could not be retrieved.");
  }
  return errors.unauthenticated('The access token is malformed.');
}
