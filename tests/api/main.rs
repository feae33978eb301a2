//! One test binary for the whole crate (one link instead of many).

mod accounts;
mod admin_lists;
mod backup;
mod binary;
mod bulk;
mod checkout;
mod config;
mod contract;
mod coupons;
mod crash;
mod disk;
mod helpers;
mod http;
mod input;
mod invoices;
mod outbox;
mod outbox_binary;
mod payments;
mod production;
mod products;
mod shop;
mod shutdown;
mod stats;
mod store;
mod two_factor;
mod users;
