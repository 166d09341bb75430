/** The vmdk format driver. */
export { VmdkImage } from './vmdk.js';
export { createVmdk, parseVmdkCreateOptions, SUBFORMATS, type Subformat } from './create.js';
export * from './sparse-header.js';
export * from './grain-table.js';
export * from './markers.js';
export * from './descriptor.js';
