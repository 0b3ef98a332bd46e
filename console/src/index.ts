export * from './app.js';
export * from './server.js';
export * from './bootstrap.js';
export * from './agent-config.js';
export * from './server-env.js';
export * from './pki.js';
