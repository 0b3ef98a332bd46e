export * from './topics.js';
export * from './messages.js';
export * from './validate.js';
export * from './errors.js';
export * from './clock.js';
export * from './ids.js';
export * from './logger.js';
export * from './quiet-hours.js';
