// The REST side of the API that GraphQL does not cover: POST /images stores raw image bytes. Shared by the web page
// and the scripts, like operations.ts.

/** What POST /images answers: the id works wherever an operation expects an image. */
export interface StoredImage {
  id: string;
  sha256: string;
  url: string;
  mime: string;
  width: number;
  height: number;
}

/** The body of POST /images, a stored image or why it was refused (NOT_AN_IMAGE, IMAGE_TOO_LARGE, …). */
export type ImageRouteAnswer = StoredImage | { error: { code: string; message: string } };
