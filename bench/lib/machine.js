'use strict';
// The context a reader needs to compare RESULTS.md with their own machine.

const fs = require('node:fs');
const os = require('node:os');

// statfs magic numbers (linux/magic.h) of the filesystems we are likely to run on.
const FS_TYPES = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0x6969: 'nfs',
  0x65735546: 'fuse',
};

function filesystemOf(dir) {
  try {
    const type = fs.statfsSync(dir).type;
    return FS_TYPES[type] ?? `type 0x${type.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

/** 1-minute load average: other work on the machine is the main source of noise. */
function loadAverage() {
  return os.loadavg()[0].toFixed(2);
}

function describeMachine(benchDir) {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory: `${Math.round(os.totalmem() / 1024 ** 3)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    filesystem: filesystemOf(benchDir),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    loadAtStart: loadAverage(),
  };
}

module.exports = { describeMachine, loadAverage };
