import { SglError } from '../errors.js';
import type { Tracing } from '../tracing/tracing.js';
import { SGL_VERSION } from '../version.js';
import type { RequestSpec } from '../workload/request_spec.js';
import type { HttpTarget } from './http_target.js';
import type { BenchTarget, OnChunk, Sent } from './targets.js';

export const FLEET_POLICIES = ['round-robin', 'least-outstanding'] as const;
export type FleetPolicy = (typeof FLEET_POLICIES)[number];

/** How long a target that refused a connection is passed over. */
const DOWN_MS = 1000;

/** Errors that say the request never reached the server: it is safe to send it to another one. */
function neverArrived(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT' || code === 'EAI_AGAIN' || code === 'ENOTFOUND';
}

/**
 * Several servers of one model, driven as a client fleet drives them: each
 * request goes to the next target by the policy (in turn, or to the one with
 * the fewest requests in flight). A target that refuses the connection is
 * passed over for a second and the request goes to the next one, so one
 * replica going away costs no request; any other failure is the request's,
 * counted against the target that gave it.
 */
export class FleetTarget implements BenchTarget {
  readonly name: string;
  private next = 0;
  private readonly outstanding: number[];
  private readonly downUntil: number[];

  constructor(
    readonly targets: readonly HttpTarget[],
    private readonly policy: FleetPolicy,
  ) {
    if (targets.length === 0) throw new SglError('No target to send to.');
    this.name = `${targets.length} servers, ${policy} (${targets.map((t) => t.url).join(', ')})`;
    this.outstanding = targets.map(() => 0);
    this.downUntil = targets.map(() => 0);
  }

  async send(spec: RequestSpec, onChunk: OnChunk): Promise<Sent> {
    let lastError: unknown = null;
    const tried = new Set<number>();
    for (let attempt = 0; attempt < this.targets.length; attempt++) {
      const i = this.pick(tried);
      tried.add(i);
      this.outstanding[i]++;
      try {
        const sent = await this.targets[i].send(spec, onChunk);
        return { ...sent, target: this.targets[i].url };
      } catch (err) {
        if (!neverArrived(err)) throw Object.assign(err as Error, { target: this.targets[i].url });
        this.downUntil[i] = performance.now() + DOWN_MS;
        lastError = err;
      } finally {
        this.outstanding[i]--;
      }
    }
    throw lastError;
  }

  /** The next target by the policy, among those not tried for this request; one that is up if any is. */
  private pick(tried: Set<number>): number {
    const n = this.targets.length;
    const t = performance.now();
    const candidates: number[] = [];
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      if (!tried.has(i)) candidates.push(i);
    }
    const up = candidates.filter((i) => this.downUntil[i] <= t);
    const pool = up.length ? up : candidates;
    let chosen = pool[0];
    if (this.policy === 'least-outstanding') for (const i of pool) if (this.outstanding[i] < this.outstanding[chosen]) chosen = i;
    this.next = (chosen + 1) % n;
    return chosen;
  }

  close(): void {
    for (const t of this.targets) t.close();
  }
}

/** The target of a run given by --url (once or more): one server, or a fleet of them, connected and described. */
export interface Connected {
  target: BenchTarget & { close(): void };
  /** Every server that answered at connect time. */
  servers: HttpTarget[];
  /** What was wrong with the ones that did not, and other things to tell. */
  warnings: string[];
}

/**
 * Connects to every URL; a server that cannot be reached is reported and
 * left out, so one replica down does not stop a run against the others
 * (all down is an error, the first one's). Tracing, when given, writes its
 * header once, naming every server.
 */
export async function connectTargets(
  urls: readonly string[],
  connect: (url: string) => Promise<HttpTarget>,
  policy: FleetPolicy,
  tracing?: Tracing,
): Promise<Connected> {
  const warnings: string[] = [];
  const settled = await Promise.allSettled(urls.map(connect));
  const servers: HttpTarget[] = [];
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') servers.push(s.value);
    else warnings.push(`${urls[i]} left out: ${(s.reason as Error).message}`);
  });
  if (servers.length === 0) throw (settled[0] as PromiseRejectedResult).reason;
  const models = [...new Set(servers.map((s) => s.model))];
  if (models.length > 1) warnings.push(`The servers serve different models (${models.join(', ')}); figures mix them.`);
  if (tracing) {
    const first = servers[0];
    await tracing.attach({
      role: 'client',
      model: { id: first.model, dir: servers.map((s) => s.url).join(','), onnxPath: '' },
      device: 'client',
      engine: { urls: servers.map((s) => s.url), endpoint: first.endpoint, policy },
      version: SGL_VERSION,
    });
  }
  const target = servers.length === 1 ? servers[0] : new FleetTarget(servers, policy);
  return { target, servers, warnings };
}
