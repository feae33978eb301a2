// The API types the client and the flow are written against: the generated `src/schema.d.ts`,
// with the operations the flow uses corrected where the served OpenAPI document does not yet
// say what shared/API.md says. Type-level only (nothing here exists at run time).
//
// The code imports these as `shopd-api` (tsconfig `paths`):
//   npm run typecheck      `shopd-api` = this file        (must pass)
//   npm run typecheck:doc  `shopd-api` = src/schema.d.ts  (the document alone; fails while the
//                          document has the gaps below, and its errors name them)
// Once the server's document is fixed and src/schema.d.ts regenerated, `typecheck:doc` passes:
// then delete the corrections below (this file becomes `export type * from "./schema.js"`).
//
// Every correction names the field of the document it replaces and what API.md says it is.

import type { components as Generated, paths as GeneratedPaths } from "./schema.js";

type G = Generated["schemas"];

/** The fields K of T: present, and `null` when empty (API.md §6: "Optional fields are always present (null when empty)"). */
type NullWhenEmpty<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: Exclude<T[P], undefined> | null };

// ---------------------------------------------------------------------------------------------
// Schemas

/** Products' `sortBy` (API.md §3 Products). Document: `sortBy: string`. */
export type ProductSort = "title" | "price" | "rating" | "stock" | "createdAt" | "discountPercentage";
/** Document: `order: string`. */
export type SortOrder = "asc" | "desc";

/** Document: `Payment.provider: string`, `Payment.method?: string` (null at run time). */
export type Payment = NullWhenEmpty<Omit<G["Payment"], "provider">, "method"> & {
  provider: "stripe" | "offline" | "manual";
};

/** Document: `ShippingAddress.phone?: string` as the order's `address` (null at run time). */
export type OrderAddress = NullWhenEmpty<G["ShippingAddress"], "phone">;

/**
 * Document: `Order.payment` has no schema (`unknown`); trackingNumber, carrier, estimatedDelivery,
 * deliveredAt, cancelledAt, cancelReason are optional strings (always present, null when empty).
 */
export type Order = NullWhenEmpty<
  Omit<G["Order"], "payment" | "address">,
  "trackingNumber" | "carrier" | "estimatedDelivery" | "deliveredAt" | "cancelledAt" | "cancelReason"
> & {
  address: OrderAddress;
  payment: Payment | null;
};

/** Document: `ProductPage.products: unknown[]` (`items: {}`), `nextCursor?: string` (null at the end). */
export type ProductPage = Omit<G["ProductPage"], "products" | "nextCursor"> & {
  products: G["Product"][];
  nextCursor: string | null;
};

/** Document: `SearchPage.products: unknown[]`, `nextCursor?: string`. */
export type SearchPage = Omit<G["SearchPage"], "products" | "nextCursor"> & {
  products: G["Product"][];
  nextCursor: string | null;
};

/** Document: `Cart.expiresAt?: string` (a user's cart has `expiresAt: null`). */
export type Cart = NullWhenEmpty<G["Cart"], "expiresAt">;

export type Schemas = Omit<G, "Payment" | "Order" | "ProductPage" | "SearchPage" | "Cart"> & {
  Payment: Payment;
  Order: Order;
  ProductPage: ProductPage;
  SearchPage: SearchPage;
  Cart: Cart;
};

export type components = Omit<Generated, "schemas"> & { schemas: Schemas };

// ---------------------------------------------------------------------------------------------
// Operations: the same as generated, with the corrected data and query types

type Json = "application/json; charset=utf-8";
type Envelope<T> = Omit<G["Envelope_any"], "data"> & { data: T };

/** The operation with `data` of its 200/201 JSON envelope replaced by T. */
type Answers<Op extends { responses: object }, T> = Omit<Op, "responses"> & {
  responses: {
    [C in keyof Op["responses"]]: C extends 200 | 201
      ? Omit<Op["responses"][C], "content"> & { content: { [M in Json]: Envelope<T> } }
      : Op["responses"][C];
  };
};

/** The operation with the query parameters in Q replaced. */
type Query<Op extends { parameters: { query?: object } }, Q> = Omit<Op, "parameters"> & {
  parameters: Omit<Op["parameters"], "query"> & {
    query?: Omit<NonNullable<Op["parameters"]["query"]>, keyof Q> & Q;
  };
};

/** Document: minPrice/maxPrice are strings, sortBy/order free strings. */
type ListQuery = {
  sortBy?: ProductSort;
  order?: SortOrder;
  minPrice?: number;
  maxPrice?: number;
};

type P = GeneratedPaths;
type Patched<Item, Ops> = Omit<Item, keyof Ops> & Ops;

type Corrected = {
  "/api/v1/products": Patched<
    P["/api/v1/products"],
    { get: Query<Answers<P["/api/v1/products"]["get"], ProductPage>, ListQuery> }
  >;
  "/api/v1/products/category/{category}": Patched<
    P["/api/v1/products/category/{category}"],
    { get: Query<Answers<P["/api/v1/products/category/{category}"]["get"], ProductPage>, ListQuery> }
  >;
  "/api/v1/products/search": Patched<
    P["/api/v1/products/search"],
    { get: Query<Answers<P["/api/v1/products/search"]["get"], SearchPage>, ListQuery> }
  >;
  "/api/v1/cart": Patched<
    P["/api/v1/cart"],
    {
      get: Answers<P["/api/v1/cart"]["get"], Cart>;
      delete: Answers<P["/api/v1/cart"]["delete"], Cart>;
    }
  >;
  "/api/v1/cart/items": Patched<P["/api/v1/cart/items"], { post: Answers<P["/api/v1/cart/items"]["post"], Cart> }>;
  "/api/v1/cart/merge": Patched<P["/api/v1/cart/merge"], { post: Answers<P["/api/v1/cart/merge"]["post"], Cart> }>;
  "/api/v1/orders": Patched<P["/api/v1/orders"], { post: Answers<P["/api/v1/orders"]["post"], Order> }>;
  "/api/v1/orders/{id}": Patched<P["/api/v1/orders/{id}"], { get: Answers<P["/api/v1/orders/{id}"]["get"], Order> }>;
  "/api/v1/orders/{id}/status": Patched<
    P["/api/v1/orders/{id}/status"],
    { patch: Answers<P["/api/v1/orders/{id}/status"]["patch"], Order> }
  >;
  "/api/v1/payments/confirm": Patched<
    P["/api/v1/payments/confirm"],
    { post: Answers<P["/api/v1/payments/confirm"]["post"], Payment> }
  >;
};

export type paths = Omit<P, keyof Corrected> & Corrected;
