// A typed shopd client: openapi-fetch over the generated paths, with the caller's credentials.
import createClient, { type Client, type Middleware } from "openapi-fetch";
// `shopd-api` is src/schema.d.ts, the generated types (tsconfig.json `paths`).
import type { paths } from "shopd-api";

/** What a client sends on every request once it is set: the bearer token and the guest session. */
export interface Credentials {
  token: string | null;
  sessionId: string | null;
}

export interface ShopdClient {
  api: Client<paths>;
  credentials: Credentials;
}

/**
 * A client for the shopd server at `baseUrl` (its root, e.g. `http://127.0.0.1:3201`; the paths
 * carry `/api/v1`). Set `credentials.token` after sign-in and `credentials.sessionId` once the
 * server handed out a guest session (`X-Session-ID`); the middleware sends them when set.
 */
export function createShopdClient(baseUrl: string): ShopdClient {
  const credentials: Credentials = { token: null, sessionId: null };
  const api = createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, "") });
  const auth: Middleware = {
    onRequest({ request }) {
      if (credentials.token !== null) request.headers.set("Authorization", `Bearer ${credentials.token}`);
      if (credentials.sessionId !== null) request.headers.set("X-Session-ID", credentials.sessionId);
      return request;
    },
  };
  api.use(auth);
  return { api, credentials };
}
