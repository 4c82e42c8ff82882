import { describe, expect, it } from 'vitest';
import { createTurnGate } from '../../src/http/turn-gate.js';

/** Lets the event loop run one turn: the gate's immediates queued before this one run first. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Real event-loop turns, a fake clock: a request "works" by moving the clock forward when it is
 * let through, synchronously as a request on SQLite does.
 */
function rig(budgetMs: number) {
  let clock = 0;
  const gate = createTurnGate(budgetMs, () => clock);
  const ran: number[] = [];
  const request = (id: number, costMs: number) => {
    const work = () => {
      clock += costMs;
      ran.push(id);
    };
    const wait = gate.enter();
    if (wait) void wait.then(work);
    else work();
  };
  return { gate, ran, request };
}

describe('turn gate', () => {
  it('lets requests through at once until the turn has spent its budget, then one turn-budget at a time in arrival order', async () => {
    const { gate, ran, request } = rig(5);
    for (let id = 0; id < 10; id++) request(id, 2);
    expect(ran).toEqual([0, 1, 2]);
    expect(gate.waiting).toBe(7);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(gate.waiting).toBe(0);
  });

  it('lets at least one request through per turn, however long each takes', async () => {
    const { gate, ran, request } = rig(5);
    for (let id = 0; id < 4; id++) request(id, 50);
    expect(ran).toEqual([0]);
    for (const expected of [[0, 1], [0, 1, 2], [0, 1, 2, 3]]) {
      await nextTurn();
      expect(ran).toEqual(expected);
    }
    expect(gate.waiting).toBe(0);
  });

  it('lets newcomers through after those that were waiting before them', async () => {
    const { gate, ran, request } = rig(5);
    request(0, 6);
    request(1, 6);
    request(2, 6);
    expect(ran).toEqual([0]);
    await nextTurn();
    expect(ran).toEqual([0, 1]);
    request(3, 1);
    request(4, 1);
    expect(gate.waiting).toBe(3);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    expect(gate.waiting).toBe(0);
  });

  it('gives a new turn a new budget once the old one has ended', async () => {
    const { ran, request } = rig(5);
    request(0, 4);
    request(1, 4);
    expect(ran).toEqual([0, 1]);
    await nextTurn();
    request(2, 4);
    request(3, 4);
    request(4, 4);
    expect(ran).toEqual([0, 1, 2, 3]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
  });
});
