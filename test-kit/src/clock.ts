/** The manual clock lives with the `Clock` contract in the protocol package; here for one import. */
export { ManualClock } from '@loalang/protocol';
