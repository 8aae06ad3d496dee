import net, { type AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import { connect } from '../db/connect.ts';
import type { Database } from '../db/schema.ts';
import { createTestDb, MYSQL_ROOT_URL } from './db.ts';

/**
 * A TCP proxy on a loopback port in front of `target` (MariaDB in tests) that can be cut (every
 * connection dropped, new ones refused) and restored on the same port: the database going away under a
 * running server or worker, and coming back. Or frozen: connections stay open and nothing gets through,
 * as behind a network partition.
 */
export async function startCuttableProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const forward = (from: net.Socket, to: net.Socket) => {
    from.on('data', (data) => !frozen && to.write(data));
    from.on('close', () => to.destroy());
  };
  const open = () =>
    net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      forward(client, upstream);
      forward(upstream, client);
    });
  let server = open();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port,
    /** Refuses new connections and drops the open ones. */
    cut: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        dropAll();
      }),
    /** Stops forwarding bytes either way, connections left open (a partition). */
    freeze: () => {
      frozen = true;
    },
    /** Listens again on the same port. */
    restore: async () => {
      server = open();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        dropAll();
        server.close(() => resolve());
      }),
  };
}

/** `url` (a MySQL DATABASE_URL) with its host and port replaced by the proxy's. */
function throughProxy(url: string, proxy: { port: number }): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

/**
 * A fresh MariaDB test database with two ways in: `db` through a cuttable proxy (what the server or
 * worker under test uses) and `direct` (what the test reads the outcome with, whatever the proxy does).
 */
export async function mysqlBehindProxy(): Promise<{
  /** The DATABASE_URL through the proxy, for a server process. */
  url: string;
  db: Kysely<Database>;
  direct: Kysely<Database>;
  proxy: Awaited<ReturnType<typeof startCuttableProxy>>;
  destroy(): Promise<void>;
}> {
  const t = await createTestDb('mysql');
  const root = new URL(MYSQL_ROOT_URL);
  const proxy = await startCuttableProxy({ host: root.hostname, port: Number(root.port || 3306) });
  const url = throughProxy(t.url, proxy);
  const db = connect({ databaseUrl: url, dataDir: '' });
  return {
    url,
    db,
    direct: t.db,
    proxy,
    // The proxy first: a pool behind a frozen proxy would wait for goodbyes that never get through.
    destroy: async () => {
      await proxy.close();
      await db.destroy().catch(() => undefined);
      await t.destroy();
    },
  };
}
