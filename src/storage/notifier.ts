import { EventEmitter } from 'node:events';
import pg from 'pg';

import type { Notifier, NotifyTopic } from './ports.js';

export type { Notifier, NotifyTopic };

/** SQLite: one process owns the engine, so an in-process emitter is enough. */
export function createLocalNotifier(): Notifier {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    notify: (topic, payload) => void emitter.emit(topic, payload),
    subscribe(topic, listener) {
      emitter.on(topic, listener);
      return () => emitter.off(topic, listener);
    },
    close: async () => void emitter.removeAllListeners(),
  };
}

const channel = (topic: NotifyTopic) => `bulwark_${topic}`;

/**
 * PostgreSQL LISTEN/NOTIFY: one dedicated connection listens for every topic; notifications reach
 * every node within milliseconds of the commit. On reconnect every topic fires once, so waiters
 * re-check whatever they may have missed while the connection was down.
 */
export function createPostgresNotifier(options: { pool: pg.Pool; connect: () => pg.Client; onError: (e: Error) => void }): Notifier {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const listen = async (): Promise<void> => {
    const c = options.connect();
    c.on('notification', (n) => {
      const topic = n.channel.replace(/^bulwark_/, '') as NotifyTopic;
      emitter.emit(topic, n.payload ?? '');
    });
    c.on('error', (e) => {
      options.onError(e);
      scheduleReconnect();
    });
    await c.connect();
    await c.query(`LISTEN ${channel('jobs')}; LISTEN ${channel('changes')}`);
    client = c;
    emitter.emit('jobs', '');
    emitter.emit('changes', '');
  };
  const scheduleReconnect = () => {
    if (closed || retry) return;
    const old = client;
    client = undefined;
    void old?.end().catch(() => undefined);
    retry = setTimeout(() => {
      retry = undefined;
      listen().catch((e: Error) => {
        options.onError(e);
        scheduleReconnect();
      });
    }, 500);
  };
  listen().catch((e: Error) => {
    options.onError(e);
    scheduleReconnect();
  });

  return {
    notify(topic, payload) {
      options.pool.query('SELECT pg_notify($1, $2)', [channel(topic), payload]).catch((e: Error) => options.onError(e));
    },
    subscribe(topic, listener) {
      emitter.on(topic, listener);
      return () => emitter.off(topic, listener);
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      emitter.removeAllListeners();
      await client?.end().catch(() => undefined);
    },
  };
}
