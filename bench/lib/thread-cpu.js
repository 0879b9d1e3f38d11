'use strict';
const fs = require('node:fs');

/**
 * CPU time in µs a process has used so far, its main thread apart from the others (V8's GC and
 * compiler helpers, libuv's pool, worker threads), from /proc/PID/task; zeros where there is no
 * /proc. Sampled around a load, it gives CPU per request, which drifts far less than req/s on a
 * shared machine and says where a server spends beyond another.
 */
function threadCpu(pid) {
  const out = { main: 0, other: 0 };
  let tasks = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  const tick = 1e6 / 100; // USER_HZ is 100 on Linux
  for (const tid of tasks) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // utime and stime are fields 14 and 15; the command name before them may hold spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[tid === String(pid) ? 'main' : 'other'] += (Number(fields[11]) + Number(fields[12])) * tick;
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

module.exports = { threadCpu };
