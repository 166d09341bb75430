/** The raw format driver. */
export { RawImage } from './raw.js';
