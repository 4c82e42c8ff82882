export interface EngineSettings {
  maxAttempts: number;
  leaseMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  concurrency: number;
  pollIntervalMs: number;
}
