// The one API client. Paths, parameters, bodies and answers are typed by the server's OpenAPI document
// (openapi.json → schema.d.ts, `npm run gen:api`), so a route change that breaks a page fails `tsc`.
// Every call carries the session's bearer token; a 401 refreshes it once and retries; a 401 that
// survives the refresh ends the session.
import createClient from "openapi-fetch";
import { accessToken, logout, refresh } from "../auth";
import { h } from "../dom";
import { apiError, apiErrorOf } from "../errors";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

function withToken(req: Request): Request {
  req.headers.set("Authorization", `Bearer ${accessToken()}`);
  return req;
}

/** fetch with the token and the refresh; the body is kept (a clone) for the retry. */
export async function authFetch(input: Request | string): Promise<Response> {
  const req = typeof input === "string" ? new Request(input) : input;
  const again = req.clone();
  let r = await fetch(withToken(req));
  if (r.status === 401 && (await refresh())) r = await fetch(withToken(again));
  if (r.status === 401) logout(false);
  return r;
}

export const api = createClient<paths>({ fetch: authFetch });

// Routes without a response model yet answer a bare JSON object (`{[key: string]: unknown}`): until they
// get one, such an answer is left untyped rather than typed by hand at every call site.
type Bare<T> = unknown extends T ? true : T extends readonly (infer E)[] ? BareShallow<E> : BareShallow<T>;
type BareShallow<T> = unknown extends T ? true : T extends object
  ? string extends keyof T ? true : true extends { [K in keyof T]-?: BareField<T[K]> }[keyof T] ? true : false
  : false;
type BareField<T> = unknown extends T ? true : T extends readonly (infer E)[] ? BareIndex<E> : BareIndex<T>;
type BareIndex<T> = T extends object ? (string extends keyof T ? true : false) : false;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Answer<T> = Bare<T> extends true ? any : T;

/** The answer of a call, or its ApiError (the server's code and message) when it was refused. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<Answer<T>> {
  const { data, error, response } = await call;
  if (!response.ok) throw apiErrorOf(response.status, error);
  return data as Answer<T>;
}

/** Download a protected file: fetched with the token, saved through a blob URL (same origin). */
export async function download(path: string, filename: string): Promise<void> {
  const r = await authFetch(path);
  if (!r.ok) throw await apiError(r);
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: filename, style: "display:none" });
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
