// Type helpers that read request and response shapes straight from the generated OpenAPI types
// (module `shopd-api`), so a call names a documented path and method and gets its real payload.
import type { paths } from 'shopd-api';

export type ApiPath = keyof paths;
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
/** The methods a path really has (openapi-typescript marks the others `?: never`). */
export type MethodOf<P extends ApiPath> = {
  [M in Method & keyof paths[P]]: paths[P][M] extends { responses: object } ? M : never;
}[Method & keyof paths[P]];

type Op<P extends ApiPath, M> = M extends keyof paths[P] ? paths[P][M] : never;
type JsonOf<C> = C extends { 'application/json; charset=utf-8': infer B } ? B
  : C extends { 'application/json': infer B } ? B : never;
type SuccessOf<R> = R extends { 200: { content: infer C } } ? JsonOf<C>
  : R extends { 201: { content: infer C } } ? JsonOf<C> : never;

/** The envelope's `data` of the success answer. */
export type Data<P extends ApiPath, M> =
  Op<P, M> extends { responses: infer R } ? (SuccessOf<R> extends { data: infer D } ? D : never) : never;
export type Query<P extends ApiPath, M> =
  Op<P, M> extends { parameters: { query?: infer Q } } ? Q : never;
export type PathParams<P extends ApiPath, M> =
  Op<P, M> extends { parameters: { path: infer X } } ? X : never;
export type Body<P extends ApiPath, M> =
  Op<P, M> extends { requestBody?: { content: infer C } } ? JsonOf<C> : never;
