/** cli: the `vdisk` command line. */
export { main } from './main.js';
