export * from './delivery.contract';
export * from './quota.contract';
export * from './inbox-events.contract';
export * from './broadcast.contract';
