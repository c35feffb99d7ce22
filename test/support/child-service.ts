/**
 * One of our processes (the worker, the API) run as a child, so that a test can kill it
 * for real (SIGKILL: no shutdown hooks, connections cut mid-request) and start it again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './wait';

const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
/** A loaded 2-core machine takes a few seconds to compile and connect. */
const READY_TIMEOUT_MS = 60_000;
/** Output kept for the failure message of a test. */
const KEPT_OUTPUT_CHARS = 8_000;

export interface ChildServiceOptions {
  /** What logs and reports call it: `worker`, `api`. */
  readonly name: string;
  /** Path from the project root, run with tsx. */
  readonly script: string;
  readonly env: NodeJS.ProcessEnv;
  /** The pino message the process logs once it serves. */
  readonly readyMessage: string;
}

export class ChildService {
  private child: ChildProcess | null = null;
  private output = '';
  private exited: Promise<void> = Promise.resolve();
  /** How many times it was started, for reports. */
  starts = 0;

  constructor(private readonly options: ChildServiceOptions) {}

  get name(): string {
    return this.options.name;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The end of what it printed, for a failure message. */
  recentOutput(): string {
    return this.output;
  }

  /** Starts it and waits for its ready line; throws with its output if it exits first. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const child = spawn(process.execPath, ['--import', 'tsx', this.options.script], {
      cwd: PROJECT_ROOT,
      env: { ...this.options.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts += 1;
    let ready = false;
    const keep = (chunk: Buffer): void => {
      const text = chunk.toString();
      if (text.includes(`"msg":"${this.options.readyMessage}"`)) ready = true;
      this.output = (this.output + text).slice(-KEPT_OUTPUT_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const outcome = await waitFor(
      `${this.name} to be ready`,
      () => (ready ? 'ready' : this.running ? undefined : 'exited'),
      READY_TIMEOUT_MS,
      50,
    );
    if (outcome === 'exited') throw new Error(`${this.name} exited at start: ${this.output}`);
  }

  /** Sends `signal` and waits until the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child?.kill(signal);
    await this.exited;
    this.child = null;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }
}
