// CPU figures from /proc, for the benchmarks that print where a run's CPU went.
import fs from 'node:fs';

/**
 * CPU time (user + system) in ms from a /proc `stat` file (a process's, or a thread's under
 * /proc/<pid>/task), with that of the children it has waited for when asked (ffmpeg making
 * thumbnails); null when it cannot be read (the process is gone, or this is not Linux).
 */
export function cpuMsOf(statFile: string, withChildren = false): number | null {
  try {
    const fields = fs.readFileSync(statFile, 'utf8').split(') ')[1]!.split(' ');
    const ticks = fields.slice(11, withChildren ? 15 : 13).reduce((sum, t) => sum + Number(t), 0);
    return (ticks * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return null;
  }
}

/**
 * Time in ms a thread has spent ready to run but waiting for a CPU (another thread or process had it),
 * from its /proc `schedstat` (the second field, in ns); null when it cannot be read.
 */
export function runQueueWaitMsOf(schedstatFile: string): number | null {
  try {
    return Number(fs.readFileSync(schedstatFile, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return null;
  }
}

/** MariaDB's pid when it runs on this machine (its pid file is readable); else null. */
export function mariadbPid(): string | null {
  try {
    return fs.readFileSync('/run/mysqld/mysqld.pid', 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * The whole machine's busy CPU time so far, in ms (all CPUs, from /proc/stat: everything but idle and
 * iowait); null when it cannot be read.
 */
export function machineBusyMs(): number | null {
  try {
    const [, ...ticks] = fs
      .readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .map(Number);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return ((ticks.slice(0, 8).reduce((a, b) => a + b, 0) - idle) * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return null;
  }
}
