export * from './config.js';
export * from './agent.js';
export * from './run.js';
export * from './audio-sink.js';
export { pcmOutputArgs } from './pcm-output.js';
export * from './store.js';
export * from './content-cache.js';
export * from './errors.js';
export { AGENT_VERSION } from './version.js';
