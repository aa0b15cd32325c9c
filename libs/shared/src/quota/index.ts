export * from './quota-ledger';
export * from './quota-rpc-credential';
