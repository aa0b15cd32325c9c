// Light areas only: import database, directory, redis, http and logging by their
// sub-path (`@app/shared/database`, …) so that a service pulls in only what it uses.
export * from './config';
export * from './contracts';
export * from './errors';
export * from './tokens';
export * from './xuid';
