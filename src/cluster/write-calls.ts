import type { ActionStore, AgentStore } from '../storage/ports.js';

/**
 * The writes an API process hands to the primary on SQLite (`serve --api-processes N`): SQLite
 * has one writer, and several processes taking turns at its lock block each other's event loops
 * (better-sqlite3 waits for a busy lock synchronously) and starve the engine. In the primary they
 * join one group commit instead. Reads stay in the API processes (WAL readers never block).
 */
export interface WriteStores {
  actions: Pick<ActionStore, 'create' | 'cancel'>;
  agents: Pick<AgentStore, 'confirm'>;
}

type Method = 'actions.create' | 'actions.cancel' | 'agents.confirm';
const methods: readonly Method[] = ['actions.create', 'actions.cancel', 'agents.confirm'];

interface CallMessage {
  bulwarkCall: { id: number; method: Method; args: unknown[] };
}
interface ReplyMessage {
  bulwarkReply: { id: number; ok: boolean; value?: unknown; error?: string };
}

export const isCallMessage = (m: unknown): m is CallMessage => {
  const c = (m as Partial<CallMessage> | null)?.bulwarkCall;
  return typeof c === 'object' && c !== null && typeof c.id === 'number' && methods.includes(c.method) && Array.isArray(c.args);
};
const isReplyMessage = (m: unknown): m is ReplyMessage => typeof (m as Partial<ReplyMessage> | null)?.bulwarkReply?.id === 'number';

/** Primary: runs one forwarded write on the real stores and answers the caller. */
export async function answerCall(stores: WriteStores, message: CallMessage, reply: (m: ReplyMessage) => void): Promise<void> {
  const { id, method, args } = message.bulwarkCall;
  try {
    const value = await run(stores, method, args);
    reply({ bulwarkReply: { id, ok: true, value } });
  } catch (e) {
    reply({ bulwarkReply: { id, ok: false, error: (e as Error).message } });
  }
}

function run(stores: WriteStores, method: Method, args: unknown[]): Promise<unknown> {
  switch (method) {
    case 'actions.create':
      return stores.actions.create(...(args as Parameters<WriteStores['actions']['create']>));
    case 'actions.cancel':
      return stores.actions.cancel(...(args as Parameters<WriteStores['actions']['cancel']>));
    case 'agents.confirm':
      return stores.agents.confirm(...(args as Parameters<WriteStores['agents']['confirm']>));
    default:
      return method satisfies never;
  }
}

/**
 * API process: write stores whose calls travel to the primary. `send` posts a message to the
 * primary; `onMessage` subscribes to its messages. When the primary goes away, pending calls fail
 * (the request answers 500; the process then exits, see api-cluster.ts).
 */
export function forwardedWrites(send: (m: CallMessage) => void, onMessage: (listener: (m: unknown) => void) => void): WriteStores & { failAll(reason: string): void } {
  let next = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  onMessage((m) => {
    if (!isReplyMessage(m)) return;
    const p = pending.get(m.bulwarkReply.id);
    if (!p) return;
    pending.delete(m.bulwarkReply.id);
    if (m.bulwarkReply.ok) p.resolve(m.bulwarkReply.value);
    else p.reject(new Error(m.bulwarkReply.error ?? 'forwarded write failed'));
  });
  const call = <T>(method: Method, args: unknown[]): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      send({ bulwarkCall: { id, method, args } });
    });
  return {
    actions: {
      create: (action, work) => call('actions.create', [action, work]),
      cancel: (tenantId, id, state) => call('actions.cancel', [tenantId, id, state]),
    },
    agents: { confirm: (agent, cursor, now) => call('agents.confirm', [agent, cursor, now]) },
    failAll(reason) {
      for (const p of pending.values()) p.reject(new Error(reason));
      pending.clear();
    },
  };
}
