export * from './delivery.contract';
export * from './quota.contract';
export * from './broadcast.contract';
