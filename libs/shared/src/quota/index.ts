export * from './quota-ledger';
