export * from './contracts.js';
export * from './server.js';
export * from './acl.js';
