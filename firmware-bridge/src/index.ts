export * from './amplifier.js';
