export * from './delivery.contract';
export * from './quota.contract';
