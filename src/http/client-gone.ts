import type { FastifyReply } from 'fastify';

/**
 * Aborts once the client has gone away without its answer (it closed the connection before the
 * response was written out). A list or count waiting on the SQLite read worker for this request
 * is then dropped, or stopped if it runs (sqlite-reader.ts): a client that times out and asks
 * again does not leave its first query holding the worker.
 */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  if (res.destroyed || res.socket?.destroyed) controller.abort();
  else res.once('close', () => res.writableFinished || controller.abort());
  return controller.signal;
}
