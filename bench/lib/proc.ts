import fs from 'node:fs';
import os from 'node:os';

/** Resident set size now and its high-water mark, from /proc/<pid>/status (kB → MB). */
export function memoryOf(pid: number): { rssMb: number; hwmMb: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** user+system CPU seconds the process has used. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11] = utime, fields[12] = stime (the 14th and 15th fields of stat)
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return Number.NaN;
  }
}
const clockTicks = 100;

/** `root` and its direct children (a PostgreSQL postmaster and its backends; `serve --api-processes N` and its API processes). */
export function processTree(root: number): number[] {
  const pids = [root];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === root) pids.push(Number(entry));
    } catch {
      /* exited */
    }
  }
  return pids;
}

/** user+system CPU seconds of `root` and its direct children. */
export function treeCpuSeconds(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + (cpuSecondsOf(pid) || 0), 0);
}

/**
 * CPU used by `root` and its direct children over a window, counting children that start or exit
 * meanwhile: a PostgreSQL backend closed mid-run (the pool's idle timeout) takes its CPU seconds
 * with it, so a plain difference of two `treeCpuSeconds` readings can come out negative. Each
 * child's last reading is kept; a child seen only later counts from 0 (it started in the window).
 */
class TreeCpu {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();

  constructor(private readonly root: number) {
    for (const pid of processTree(root)) {
      const cpu = cpuSecondsOf(pid);
      if (Number.isFinite(cpu)) this.first.set(pid, cpu);
    }
    this.sample();
  }

  sample(): void {
    for (const pid of processTree(this.root)) {
      const cpu = cpuSecondsOf(pid);
      if (Number.isFinite(cpu)) this.last.set(pid, cpu);
    }
  }

  /** CPU seconds since construction, as of the last sample */
  used(): number {
    let sum = 0;
    for (const [pid, cpu] of this.last) sum += cpu - (this.first.get(pid) ?? 0);
    return sum;
  }
}

/** Resets VmHWM so the next reading is the peak of this scenario only (Linux ≥ 4.0, `clear_refs` 5). */
export function resetPeak(pid: number): void {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    /* not permitted: the sampled maximum of VmRSS still bounds the peak from below */
  }
}

/**
 * Samples one process during a scenario: the peak RSS (max of VmRSS samples and VmHWM after a
 * reset) and the CPU it used (in cores, averaged over the window).
 */
export class ProcSampler {
  private timer?: NodeJS.Timeout;
  private peak = 0;
  private t0 = 0;
  private machine0 = 0;
  private self0 = 0;
  private serverCpu?: TreeCpu;
  private dbCpu?: TreeCpu | undefined;
  private dbTimer?: NodeJS.Timeout;
  private pids: number[] = [];

  /** `dbPid`: a database server whose CPU is the service's too (PostgreSQL's postmaster) */
  constructor(private readonly pid: number, private readonly dbPid?: number, private readonly intervalMs = 50) {}

  start(): this {
    this.pids = processTree(this.pid);
    for (const pid of this.pids) resetPeak(pid);
    this.peak = 0;
    this.sample();
    this.serverCpu = new TreeCpu(this.pid);
    this.machine0 = machineBusySeconds();
    this.self0 = selfCpuSeconds();
    this.dbCpu = this.dbPid ? new TreeCpu(this.dbPid) : undefined;
    this.t0 = performance.now();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    // Backends come and go; a reading every 200 ms loses at most that much of one that exits.
    this.dbTimer = setInterval(() => this.dbCpu?.sample(), 200);
    this.dbTimer.unref();
    return this;
  }

  /**
   * The service's processes together (one, or a primary and its API processes): the larger of the
   * sampled sum of RSS and the sum of each process's high-water mark, an upper bound when the
   * processes peak at different moments.
   */
  private sample(): void {
    let rss = 0;
    let hwm = 0;
    for (const pid of this.pids) {
      const m = memoryOf(pid);
      if (!m) continue;
      rss += m.rssMb;
      hwm += Number.isFinite(m.hwmMb) ? m.hwmMb : m.rssMb;
    }
    this.peak = Math.max(this.peak, rss, hwm);
  }

  /** cpuCores: the sampled process; dbCores: its database server; benchCores: this (load-generating) process; otherCores: everything else on the machine */
  stop(): { peakRssMb: number; cpuCores: number; dbCores: number | undefined; benchCores: number; otherCores: number } {
    clearInterval(this.timer);
    clearInterval(this.dbTimer);
    this.sample();
    const seconds = (performance.now() - this.t0) / 1000;
    this.serverCpu!.sample();
    this.dbCpu?.sample();
    const server = this.serverCpu!.used();
    const db = this.dbCpu?.used() ?? 0;
    const bench = selfCpuSeconds() - this.self0;
    const machine = machineBusySeconds() - this.machine0;
    return {
      peakRssMb: this.peak,
      cpuCores: server / seconds,
      dbCores: this.dbPid ? db / seconds : undefined,
      benchCores: bench / seconds,
      otherCores: Math.max(0, machine - server - db - bench) / seconds,
    };
  }
}

/** CPU seconds all CPUs spent busy (not idle, not iowait), from /proc/stat. */
function machineBusySeconds(): number {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (fields[3] ?? 0) - (fields[4] ?? 0)) / clockTicks;
}

function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Waits until the process (with its children) uses less than `threshold` of a core over 300 ms windows (bounded). */
export async function waitIdle(pid: number, threshold = 0.05, maxMs = 30_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    const c0 = treeCpuSeconds(pid);
    await new Promise((r) => setTimeout(r, 300));
    const used = (treeCpuSeconds(pid) - c0) / 0.3;
    if (!(used > threshold) || performance.now() - start > maxMs) return performance.now() - start;
  }
}

export function machineLoad(): number[] {
  return os.loadavg().map((v) => Math.round(v * 100) / 100);
}
