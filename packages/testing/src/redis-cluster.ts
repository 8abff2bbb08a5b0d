import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, freePort, sleep } from './wait.js';

/** A Redis Cluster of the test's own: `masters` redis-servers on loopback, slots spread over them. */
export interface TestRedisCluster extends AsyncDisposable {
  /** `{ host, port }` of every master (what `new Cluster(nodes)` takes). */
  readonly nodes: { host: string; port: number }[];
  /** Run redis-cli against one node (`-c`: follows MOVED redirections). */
  cli(node: number, ...args: string[]): Promise<string>;
  /**
   * Stop one master (SIGTERM) and start it again on the same port, and resolve once the cluster
   * serves every slot again. Its data survives only with `appendOnly`; it comes back as another
   * process (a new run id) either way.
   */
  restart(node: number): Promise<void>;
}

/**
 * Start `masters` (at least 3, as Redis requires) redis-servers with `--cluster-enabled yes` on
 * free ports, join them with `redis-cli --cluster create`, and resolve once every slot is served
 * (`cluster_state:ok`). Nothing is persisted unless `appendOnly` (an AOF, fsync'd on every write);
 * the servers and their directory go on dispose.
 */
export async function startRedisCluster(
  options: { masters?: number; appendOnly?: boolean } = {},
): Promise<TestRedisCluster> {
  const masters = options.masters ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'inloop-redis-cluster-'));
  const children: ChildProcess[] = [];
  const nodes: { host: string; port: number }[] = [];
  const argsOf: string[][] = [];
  const stopAll = async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map(exited));
    rmSync(dir, { recursive: true, force: true });
  };
  const settled = async () => {
    for (const node of nodes) {
      for (let attempt = 0; ; attempt++) {
        const info = await run('redis-cli', ['-p', String(node.port), 'cluster', 'info']);
        if (info.includes('cluster_state:ok')) break;
        if (attempt > 100) throw new Error(`the cluster did not settle: ${info}`);
        await sleep(100);
      }
    }
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const persistence = options.appendOnly
        ? ['--appendonly', 'yes', '--appendfsync', 'always', '--appenddirname', `aof-${port}`]
        : ['--appendonly', 'no'];
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
        '--save',
        '',
        ...persistence,
        '--protected-mode',
        'no',
      ];
      argsOf.push(args);
      const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      await readyLine(child);
      nodes.push({ host: '127.0.0.1', port });
    }
    const created = await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `${n.host}:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    if (!created.includes('All 16384 slots covered')) throw new Error(`redis-cli --cluster create: ${created}`);
    await settled();
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    cli: (node, ...args) => run('redis-cli', ['-c', '-p', String(nodes[node]!.port), ...args]),
    async restart(node) {
      const old = children[node]!;
      old.kill('SIGTERM');
      await exited(old);
      const child = spawn('redis-server', argsOf[node]!, { stdio: ['ignore', 'pipe', 'pipe'] });
      children[node] = child;
      await readyLine(child);
      await settled();
    },
    [Symbol.asyncDispose]: stopAll,
  };
}

function readyLine(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
    });
  });
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve(out.trim()));
  });
}
