import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

interface Started {
  child: ChildProcess;
  port: Promise<number>;
  exited: Promise<number | null>;
  output: () => string;
}

/**
 * `npm start` at the repository root, as a user runs it, in its own process group; or, with
 * `direct`, `node dist/server.js` as a process manager runs it (signals then reach node itself).
 */
function npmStart(dataDir: string, direct = false): Started {
  const [command, args] = direct ? [process.execPath, ['examples/expense-app/dist/server.js']] : ['npm', ['start', '--silent']];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', DATA_DIR: dataDir },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const port = new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"port":(\d+)[^\n]*expense-app listening/.exec(output);
      if (match) resolve(Number(match[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', () => reject(new Error(`npm start exited before listening:\n${output}`)));
  });
  port.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, port, exited, output: () => output };
}

function killGroup(started: Started, signal: NodeJS.Signals): void {
  try {
    process.kill(-started.child.pid!, signal);
  } catch {
    // already gone
  }
}

let dataDir = '';
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'expense-server-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('serves the API, and a record acknowledged before SIGKILL is there after a restart', async () => {
    const first = npmStart(dataDir);
    try {
      const port = await first.port;
      const created = await fetch(`http://127.0.0.1:${port}/expenses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ description: 'Taxi', amount: 23.4, category: 'transport' }),
      });
      expect(created.status).toBe(201);
      const record = (await created.json()) as { id: number };
      killGroup(first, 'SIGKILL');
      await first.exited;

      const second = npmStart(dataDir);
      try {
        const again = await fetch(`http://127.0.0.1:${await second.port}/expenses/${record.id}`);
        expect(again.status).toBe(200);
        expect(await again.json()).toEqual({ id: record.id, description: 'Taxi', amount: 23.4, category: 'transport' });
      } finally {
        killGroup(second, 'SIGKILL');
        await second.exited;
      }
    } finally {
      killGroup(first, 'SIGKILL');
    }
  }, 60_000);

  it('shuts down on SIGTERM with exit code 0 and releases the data file, despite an idle keep-alive connection', async () => {
    const started = npmStart(dataDir, true);
    const port = await started.port;
    const agent = new http.Agent({ keepAlive: true });
    const status = await new Promise<number>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port, path: '/expenses', agent }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject),
    );
    expect(status).toBe(200);
    const signalled = Date.now();
    started.child.kill('SIGTERM');
    const code = await started.exited;
    agent.destroy();
    expect(code).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(3_000);
    expect((await readdir(dataDir)).filter((n) => n.endsWith('.lock'))).toEqual([]);
  }, 60_000);

  it('refuses to start on a corrupt data file, names it, and leaves it byte-identical', async () => {
    const file = path.join(dataDir, 'expenses.json');
    const content = '{"format":"filekeep/1","collections":{"expenses":{"nextId":2,"records":[{"id":1,';
    await writeFile(file, content);
    const started = npmStart(dataDir);
    const code = await started.exited;
    expect(code).not.toBe(0);
    expect(started.output()).toContain(file);
    expect(started.output()).toContain('FK_CORRUPT_DATA');
    expect(await readFile(file, 'utf8')).toBe(content);
  }, 60_000);
});
