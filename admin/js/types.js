// The API's values as the app uses them, all taken from the generated OpenAPI types.
// (This module has no code: importing it for types costs nothing at run time.)

/** @typedef {import('shopd-api').components['schemas']['User']} User */
/** @typedef {import('shopd-api').components['schemas']['BriefUser']} BriefUser */
/** @typedef {import('shopd-api').components['schemas']['Role']} Role */
/** @typedef {import('shopd-api').components['schemas']['ProductDetail']} ProductDetail */
/** @typedef {import('shopd-api').components['schemas']['SortField']} SortField */
/** @typedef {import('shopd-api').components['schemas']['Review']} Review */
/** @typedef {import('shopd-api').components['schemas']['AdminReview']} AdminReview */
/** @typedef {import('shopd-api').components['schemas']['Order']} Order */
/** @typedef {import('shopd-api').components['schemas']['Status']} OrderStatus */
/** @typedef {import('shopd-api').components['schemas']['OrderReturn']} OrderReturn */
/** @typedef {import('shopd-api').components['schemas']['Job']} Job */
/** @typedef {import('shopd-api').components['schemas']['ShopSettings']} ShopSettings */
/** @typedef {import('shopd-api').components['schemas']['JobStatus']} JobStatus */
/** @typedef {import('shopd-api').components['schemas']['Coupon']} Coupon */
/** @typedef {import('shopd-api').components['schemas']['CouponType']} CouponType */
/** @typedef {import('shopd-api').components['schemas']['CouponInput']} CouponInput */
/** @typedef {import('shopd-api').components['schemas']['CouponPatch']} CouponPatch */
/** @typedef {import('shopd-api').components['schemas']['Webhook']} Webhook */
/** @typedef {import('shopd-api').components['schemas']['WebhookInput']} WebhookInput */
/** @typedef {import('shopd-api').components['schemas']['WebhookPatch']} WebhookPatch */
/** @typedef {import('shopd-api').components['schemas']['WebhookDelivery']} WebhookDelivery */
/** @typedef {import('shopd-api').components['schemas']['WebhookAttempt']} WebhookAttempt */
/** @typedef {import('shopd-api').components['schemas']['DeliveryState']} DeliveryState */

// Endpoints of the analytics and bulk-import work (API.md §6), read by path so the names the
// generator gives their schemas do not matter.
/** @typedef {import('./api-types').Data<'/api/v1/admin/stats/overview', 'get'>} Overview */
/** @typedef {import('./api-types').Data<'/api/v1/admin/stats/sales', 'get'>} SalesReport */
/** @typedef {import('./api-types').Data<'/api/v1/admin/products/import', 'post'>} ImportReport */

export {};
