import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface GracefulShutdownOptions {
  /** @default ['SIGTERM', 'SIGINT'] */
  signals?: NodeJS.Signals[];
  /**
   * How long in-flight requests may take after the signal before every connection is closed.
   * @default 1000
   */
  gracePeriod?: number;
  /** If shutting down has not finished after this long (a stuck disk), exit with 1. @default 5000 */
  forceExitAfter?: number;
  /** @default process.exit */
  exit?: (code: number) => void;
  /** @default (message, error) => console.error(message, error ?? '') */
  log?: (message: string, error?: unknown) => void;
}

export interface ShutdownHandle {
  /** What a signal does: stop the server, close the repository, exit. Resolves with the exit code. */
  shutdown(reason?: string): Promise<number>;
  /** Remove the signal handlers without shutting down. */
  dispose(): void;
}

/** What shutting down needs from the repository. */
export interface Closable {
  close(): Promise<void>;
}

const DEFAULTS: Required<GracefulShutdownOptions> = {
  signals: ['SIGTERM', 'SIGINT'],
  gracePeriod: 1000,
  forceExitAfter: 5000,
  exit: (code) => process.exit(code),
  log: (message, error) => console.error(message, error ?? ''),
};

/**
 * On SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish (up to
 * `gracePeriod`), close keep-alive connections as soon as they are idle (`server.close()` alone
 * waits for their keep-alive timeout), close the repository (flush, release its lock), exit 0.
 * A second signal exits at once with 1; nothing unacknowledged is lost, and the lock a killed
 * process leaves is recovered at the next start.
 *
 * @example
 * const server = createApp(repo).listen(3000);
 * gracefulShutdown(server, repo);
 */
export function gracefulShutdown(server: Server, repo: Closable, options: GracefulShutdownOptions = {}): ShutdownHandle {
  const { signals, gracePeriod, forceExitAfter, exit, log } = { ...DEFAULTS, ...options };
  for (const [name, value] of Object.entries({ gracePeriod, forceExitAfter })) {
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`Expected \`${name}\` to be a finite number >= 0, got ${String(value)}`);
  }
  // Connections are tracked, not requests: a Set of in-flight responses, updated twice per request,
  // cost a busy server 9-10% of its throughput (measured); this one changes when clients connect.
  const connections = new Set<Socket>();
  let stopping: Promise<number> | undefined;

  const onConnection = (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  };
  // 'secureConnection' too: on an https server the response is on the TLS socket.
  server.on('connection', onConnection);
  server.on('secureConnection', onConnection);

  const closeAfterResponse = (res: ServerResponse) => {
    try {
      res.setHeader('Connection', 'close');
    } catch {
      // The head is already out; the connection is closed once idle (below).
    }
  };
  const closeIdleSoon = () => setImmediate(() => server.closeIdleConnections());
  // Installed once stopping: a request that arrives on an open connection is its last. It runs after
  // the app's own listener, so a synchronous handler may have sent the head already: then its
  // connection is closed once idle instead.
  const onRequestWhileStopping = (_req: IncomingMessage, res: ServerResponse) => {
    closeAfterResponse(res);
    res.once('close', closeIdleSoon);
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} again: exiting now`);
      exit(1);
      return;
    }
    void shutdown(signal);
  };
  for (const signal of signals) process.on(signal, onSignal);

  function dispose(): void {
    for (const signal of signals) process.off(signal, onSignal);
    server.off('connection', onConnection);
    server.off('secureConnection', onConnection);
    server.off('request', onRequestWhileStopping);
  }

  /** The last response of every busy connection says Connection: close; idle ones close once it is done. */
  function closeAfterInFlight(): void {
    for (const socket of connections) {
      // The response in flight on the connection, as Node's own closeIdleConnections() reads it
      // (set while a response owns the socket, null once it finished).
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (!res) continue;
      closeAfterResponse(res);
      res.once('close', closeIdleSoon);
    }
  }

  function shutdown(reason = 'shutdown'): Promise<number> {
    stopping ??= (async () => {
      log(`${reason}: closing the server`);
      const deadline = setTimeout(() => {
        log(`still shutting down after ${forceExitAfter} ms: exiting`);
        exit(1);
      }, forceExitAfter);
      deadline.unref();
      server.on('request', onRequestWhileStopping);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      closeAfterInFlight();
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), gracePeriod);
      grace.unref();
      await closed;
      clearTimeout(grace);
      let code = 0;
      try {
        await repo.close();
        log('repository closed');
      } catch (error) {
        log('could not close the repository', error);
        code = 1;
      }
      clearTimeout(deadline);
      dispose();
      exit(code);
      return code;
    })();
    return stopping;
  }

  return { shutdown, dispose };
}
