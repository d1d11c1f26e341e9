import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Which machine — and which process-id namespace on it — this process runs on, so that another
 * process can tell whether a process id it reads in Redis is one it can look up itself. The host name
 * alone is not enough: two containers may share one (`hostname: worker` in a compose file) and one
 * kernel, while each counts its process ids apart; the kernel's boot id tells machines apart, the PID
 * namespace containers. Undefined where that cannot be told (not Linux): such processes are judged by
 * their heartbeat only, never by their process id.
 */
let cached: string | undefined | null = null;

export function machineId(): string | undefined {
  if (cached !== null) return cached;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNamespace = readlinkSync('/proc/self/ns/pid');
    cached = createHash('sha1').update(`${hostname()}\n${boot}\n${pidNamespace}`).digest('hex').slice(0, 16);
  } catch {
    cached = undefined;
  }
  return cached;
}

/**
 * Whether a process of this machine is gone. Only a definite "no such process" counts: a process id
 * that exists (even one we may not signal, or one reused by another program) is taken as alive.
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
