/**
 * The schemas of every answer of the API (issue 15): routes declare them as `response`, and the
 * web console imports their static types from here (`@loalang/api` in web/tsconfig.json).
 */
export * from './common.js';
export * from './accounts.js';
export * from './areas.js';
export * from './devices.js';
export * from './content.js';
export * from './schedules.js';
export * from './alerts.js';
export * from './reports.js';
export * from './ops.js';
export * from './live.js';
export * from './updates.js';
export * from './webhooks.js';
export * from './integration.js';
export * from './bulletins.js';
