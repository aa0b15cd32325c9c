import { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { createServer, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Route prefixes served only on the internal listener: the directory's admin API, Prometheus, the OpenAPI UI. */
const INTERNAL_PREFIXES = ['/admin', '/metrics', '/docs'];
const isInternalRoute = (url: string): boolean =>
  INTERNAL_PREFIXES.some((prefix) => url === prefix || url.startsWith(`${prefix}/`));

/**
 * A second HTTP server in front of the same Fastify routes, for the surfaces
 * that must not face the internet. It serves every route (so Swagger UI's "Try
 * it out" works from /docs); the public listener serves all but the internal
 * ones, checked on every request by the edge hook through {@link serves}. An
 * internal route asked for on the public port is the same 404 as an unknown
 * path, so the public port does not even reveal that /admin exists.
 */
export class InternalListener implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly server: Server;
  private readonly sockets = new WeakSet<Socket>();

  constructor(
    private readonly fastify: FastifyInstance,
    private readonly host: string,
    private readonly port: number,
  ) {
    // Host is checked by the edge hook, which answers with a body (see edge.ts).
    this.server = createServer({ requireHostHeader: false }, (request, response) => this.fastify.routing(request, response));
    this.server.keepAliveTimeout = fastify.server.keepAliveTimeout;
    this.server.on('connection', (socket: Socket) => this.sockets.add(socket));
  }

  /**
   * Listens once every route and hook is registered (the end of the app's
   * init, just before the public listener), so a taken port fails the start.
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.fastify.ready();
    await this.listen();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.close();
  }

  /** Whether this request may be answered on the listener it arrived on. */
  serves(request: FastifyRequest): boolean {
    const route = request.routeOptions.url;
    // No route: the not-found handler answers 404 wherever it arrived.
    if (route === undefined || !isInternalRoute(route)) return true;
    return this.sockets.has(request.raw.socket);
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** http://host:port once listening (the port the OS chose when INTERNAL_PORT is 0). */
  get url(): string {
    const address = this.server.address() as AddressInfo | null;
    if (address === null) throw new Error('The internal listener is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  }

  /** Stops accepting, lets requests in flight finish (for up to `graceMs`), drops idle keep-alive connections. */
  close(graceMs = 5000): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => this.server.closeAllConnections(), graceMs).unref();
      this.server.close(() => {
        clearTimeout(force);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }
}
