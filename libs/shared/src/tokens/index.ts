export * from './user-token';
