// Headers every request of the example clients carries. The server refuses a GET, multipart or form request, and a
// POST /images whose body is untyped or a form, without GraphQL-Require-Preflight: a page of another site can send
// those without asking the browser first (cross-site request forgery), but cannot add a header. Any value will do.
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = { 'graphql-require-preflight': '1' };
