export * from './pipeline.js';
export * from './tools.js';
export * from './errors.js';
export * from './probe.js';
export * from './normalise.js';
export * from './speech.js';
export * from './speech-http.js';
