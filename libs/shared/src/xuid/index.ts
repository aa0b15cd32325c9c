export * from './xuid';
export * from './lossless-json';
