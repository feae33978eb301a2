//! /api/v1/users and the admin endpoints.
