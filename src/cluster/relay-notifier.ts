import { EventEmitter } from 'node:events';
import type { Notifier, NotifyTopic } from '../storage/ports.js';

/** The IPC message a wake-up travels in, from the primary to the API processes. */
interface RelayMessage {
  bulwarkNotify: { topic: NotifyTopic; payload: string };
}

const isRelayMessage = (m: unknown): m is RelayMessage => {
  const n = (m as Partial<RelayMessage> | null)?.bulwarkNotify;
  return typeof n === 'object' && n !== null && (n.topic === 'jobs' || n.topic === 'changes') && typeof n.payload === 'string';
};

function localEmitter() {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    emit: (topic: NotifyTopic, payload: string) => void emitter.emit(topic, payload),
    subscribe(topic: NotifyTopic, listener: (payload: string) => void) {
      emitter.on(topic, listener);
      return () => void emitter.off(topic, listener);
    },
    close: async () => void emitter.removeAllListeners(),
  };
}

/**
 * Wake-ups across the processes of `serve --api-processes N` on SQLite, which has no
 * LISTEN/NOTIFY. Every write happens in the primary (API processes forward theirs, see
 * write-calls.ts), so every notification starts there: the primary delivers it to its own
 * listeners (the engine) and to each API process (long polls of feeds and agents). Payloads stay
 * hints: a lost one costs latency, never correctness.
 */
export function createPrimaryNotifier(apiProcesses: () => Iterable<{ send(message: object): void }>): Notifier {
  const local = localEmitter();
  return {
    notify(topic, payload) {
      local.emit(topic, payload);
      for (const p of apiProcesses()) p.send({ bulwarkNotify: { topic, payload } } satisfies RelayMessage);
    },
    subscribe: local.subscribe,
    close: local.close,
  };
}

/** An API process's notifier: its own listeners, woken by what it does and by the primary. */
export function createApiProcessNotifier(onMessage: (listener: (m: unknown) => void) => () => void): Notifier {
  const local = localEmitter();
  const stop = onMessage((m) => {
    if (isRelayMessage(m)) local.emit(m.bulwarkNotify.topic, m.bulwarkNotify.payload);
  });
  return {
    notify: local.emit,
    subscribe: local.subscribe,
    async close() {
      stop();
      await local.close();
    },
  };
}
