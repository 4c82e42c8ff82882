/**
 * Where clients reach this service. The base URL is fixed once the listener is bound (a test may
 * listen on port 0), before any request is served; everything reads it at use time.
 */
export interface Site {
  baseUrl: string;
}
