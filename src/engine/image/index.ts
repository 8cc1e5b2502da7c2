// Images in and out of the engine: decoding and encoding through sharp, sizes, and colour transfer.
export { luminance, greyFromLuminance, matchLuminance, recolor } from './color.js';
export { decodeRgb, encodeRgb, MIME, probeImage, type ImageProbe, type OutputFormat, type RgbImage } from './codec.js';
export { fitLongestSide, largestSideWithin } from './geometry.js';
