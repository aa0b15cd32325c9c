export * from './directory.module';
export * from './directory.repository';
export * from './directory.types';
export * from './gamertag';
