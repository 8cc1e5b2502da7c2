// Output sizes from an image's shape: pure arithmetic, shared by both engines and by the server's checks.

/** Width and height with the longest side set to `longest`, keeping the aspect ratio. */
export function fitLongestSide(width: number, height: number, longest: number): { width: number; height: number } {
  const scale = longest / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The longest side that keeps an image of this shape within maxPixels. */
export function largestSideWithin(width: number, height: number, maxPixels: number): number {
  return Math.floor(Math.sqrt(maxPixels * (Math.max(width, height) / Math.min(width, height))));
}
