/**
 * Bounds how much request work one event-loop turn does, so that a busy service still takes in
 * new connections.
 *
 * Node's server (libuv ≥ 1.45, libuv/libuv#3696) accepts one new connection per event-loop turn,
 * and a turn runs every request that is ready in it. With 64 keep-alive clients each asking for a
 * 3 ms list page, a turn lasts ~200 ms, so a new connection (a load balancer's health probe, an
 * analyst's first request) waited ~0.8 s, and a burst of them seconds (decision 0010, row 13).
 *
 * A request passes the gate at once while the current turn has spent less than `budgetMs` and
 * nobody is waiting. Otherwise it waits for a later turn, in arrival order: each check phase lets
 * waiters through until the budget is spent (at least one per turn), and the rest move on to the
 * next turn. A turn is then at most about `budgetMs` of request work plus one request, and the
 * poll phase between two turns accepts the next connection.
 *
 * Used with SQLite, where a request runs start to finish within the microtasks after it is let
 * through. On PostgreSQL a request yields at every query and the gate only cost throughput
 * (main.ts leaves it out there).
 */
export interface TurnGate {
  /** `undefined`: go on now. A promise: go on when it settles (a later turn). */
  enter(): Promise<void> | undefined;
  /** Requests waiting for a later turn (the tests read it; /metrics counts deferrals instead). */
  readonly waiting: number;
}

export function createTurnGate(budgetMs = 5, now: () => number = () => performance.now()): TurnGate {
  let waiting = 0;
  /** When this turn's budget started; undefined between turns. */
  let turnStart: number | undefined;
  let releasedThisTurn = 0;

  const endTurn = (): void => {
    turnStart = undefined;
  };

  /** Opens a turn's budget at the first gate call of the turn; it closes at the next check phase. */
  const spent = (): number => {
    const t = now();
    if (turnStart === undefined) {
      turnStart = t;
      releasedThisTurn = 0;
      setImmediate(endTurn);
    }
    return t - turnStart;
  };

  const tryRelease = (resolve: () => void): void => {
    if (spent() >= budgetMs && releasedThisTurn > 0) {
      setImmediate(tryRelease, resolve);
      return;
    }
    releasedThisTurn++;
    waiting--;
    resolve();
  };

  return {
    enter() {
      if (spent() < budgetMs && waiting === 0) {
        releasedThisTurn++;
        return undefined;
      }
      waiting++;
      return new Promise<void>((resolve) => setImmediate(tryRelease, resolve));
    },
    get waiting() {
      return waiting;
    },
  };
}
