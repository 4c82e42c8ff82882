import { randomUUID } from 'node:crypto';
import type { OperationStatus } from '../../src/domain/operation-status.js';
import { stateJson } from '../../src/storage/sql/action-rows.js';
import { ipv4 } from './util.js';

/** actions columns in schema.ts order (migration 001), `seq` given explicitly. */
export const actionColumns = [
  'seq', 'tenant_id', 'id', 'name', 'status', 'action_reason', 'app_id', 'user_name', 'client_context', 'provider', 'vendor',
  'sub_provider', 'provider_version', 'indicator_type', 'indicator', 'parameters', 'states', 'error_info', 'extra', 'created_at',
  'last_action_at', 'completed_at', 'cancelled_at', 'expires_at', 'expired_at', 'applied_at', 'withdrawn_at',
] as const;
export const parameterColumns = ['action_seq', 'tenant_id', 'name', 'value'] as const;

export type Cell = string | number | null;

const appId = 'bulwark-bench-seed';
const user = 'analyst@contoso.com';
const day = 86_400_000;
const reasons = Array.from({ length: 50 }, (_, i) => `SOAR playbook ${i}: phishing infrastructure`);
// States written by the service's own stateJson(), so seeded rows are stored exactly as the
// service stores them (test/wire/bench-seed-rows.test.ts).
const state = (status: OperationStatus, at: number, reason: string, asUser: boolean) =>
  stateJson({ appId: asUser ? appId : null, status, updatedAt: at, user: asUser ? user : null, reason });

/**
 * The n-th seeded action: history as the engine leaves it. 90 % BlockIp (20.0.0.0 + n), 10 %
 * BlockDomain; each blocked for `P1D` and then withdrawn — 90 % by expiry, 10 % by an earlier
 * cancel — so every row is `Completed`, has five states and is no longer in the ledger (the feeds
 * stay as the bench's own actions left them). `position` (0..1) places created_at in the 90 days
 * before `now`.
 */
export function seededAction(n: number, seq: number, tenantId: string, now: number, position: number): { action: Cell[]; parameters: Cell[][]; id: string } {
  const isIp = n % 10 !== 9;
  const indicator = isIp ? ipv4('20.0.0.0', n) : `s${n}.seed-${n % 997}.example`;
  const created = now - 90 * day + Math.floor(position * 89 * day);
  const dispatched = created + 3;
  const expires = created + day;
  const cancelled = n % 10 === 3 ? created + 3_600_000 : null;
  const withdrawStart = cancelled ?? expires + 400;
  const withdrawn = withdrawStart + 4;
  const states = `[${state('NotStarted', created, 'created', true)},${state('Running', dispatched, 'dispatched to feeds', false)},${state('Completed', dispatched, `published by feeds: ${indicator} is blocked`, false)},${
    cancelled !== null
      ? state('Running', cancelled, 'cancel requested; withdrawing', true)
      : state('Running', withdrawStart, `expired at ${new Date(expires).toISOString()}; withdrawing`, false)
  },${state('Completed', withdrawn, 'withdrawn from feeds', false)}]`;
  const parameterName = isIp ? 'IP' : 'Domain';
  const parameters = `[{"name":"${parameterName}","value":"${indicator}"},{"name":"Duration","value":"P1D"}]`;
  const id = randomUUID();
  const action: Cell[] = [
    seq, tenantId, id, isIp ? 'BlockIp' : 'BlockDomain', 'Completed', n % 3 === 0 ? 'C2 beacon seen by EDR' : reasons[n % 50]!,
    appId, user, null, 'feeds', 'Bulwark', null, null, isIp ? 'ip' : 'domain', indicator, parameters, states,
    null, null, created, withdrawn, withdrawn, cancelled, expires, cancelled === null ? withdrawStart : null, dispatched, withdrawn,
  ];
  return { action, parameters: [[seq, tenantId, parameterName, indicator], [seq, tenantId, 'Duration', 'P1D']], id };
}
