import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { temporalCliPath } from './binaries';
import { DEV_SERVER_SEARCH_ATTRIBUTES } from './search-attributes';

export interface DevServerOptions {
  readonly ip?: string;
  readonly port?: number;
  /** Web UI port; omit for a headless server. */
  readonly uiPort?: number;
  /** Keep the server's data in this SQLite file between runs; in memory when omitted. */
  readonly dbFilename?: string;
  /** Extra `--dynamic-config-value KEY=VALUE` settings. */
  readonly dynamicConfig?: Readonly<Record<string, string | number>>;
  readonly startTimeoutMs?: number;
  /**
   * Run in a process group of its own, so a Ctrl-C in the terminal reaches only our process,
   * which then stops the server after the worker that needs it. @default false
   */
  readonly detached?: boolean;
}

export interface RunningDevServer {
  readonly address: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Asks the OS for a free TCP port on the loopback interface. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function devServerArgs(ip: string, port: number, options: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--log-level', 'error'];
  if (options.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort));
  if (options.dbFilename) args.push('--db-filename', options.dbFilename);
  for (const attribute of DEV_SERVER_SEARCH_ATTRIBUTES) args.push('--search-attribute', attribute);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {})) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  return args;
}

/**
 * Starts `temporal server start-dev` and waits until its frontend accepts connections.
 * We start it ourselves because the SDK's launcher gives a server only 5 seconds,
 * which a loaded 2-core machine can exceed.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<RunningDevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? (await freePort(ip));
  const child = spawn(temporalCliPath(), devServerArgs(ip, port, options), {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: options.detached ?? false,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!(await accepts(ip, port))) {
    if (child.exitCode !== null) {
      throw new Error(`Temporal dev server exited with ${child.exitCode}: ${stderr}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Temporal dev server did not accept connections on ${ip}:${port}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { address: `${ip}:${port}`, process: child, stop };
}
