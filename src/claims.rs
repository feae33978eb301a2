//! Claims: the changes that call a payment provider before they write (cancel, a shop's status
//! change, a return decision, starting a payment) hold their order while the call is out, so
//! that a second such change cannot interleave with the first (a refund followed by a
//! concurrent "shipped", or two tabs starting two charges). A claim lives in this process's
//! memory and ends when its guard is dropped, also when the request's future is.

use std::collections::HashSet;
use std::sync::LazyLock;

use parking_lot::Mutex;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorCode};

/// What a claim is for: an order can be changed and have its payment started at once, but not
/// either twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A change of the order's status that may refund first.
    OrderChange,
    /// Creating the order's payment intent.
    StartPayment,
}

static HELD: LazyLock<Mutex<HashSet<(Purpose, Uuid)>>> = LazyLock::new(Default::default);

/// Held while the claimed change runs.
#[must_use = "the claim ends when this is dropped"]
pub struct Claim {
    purpose: Purpose,
    id: Uuid,
}

impl Claim {
    /// Takes the claim, or answers 409 `CONFLICT` (retry in a second) when another change holds
    /// it.
    pub fn take(purpose: Purpose, id: Uuid) -> ApiResult<Claim> {
        if !HELD.lock().insert((purpose, id)) {
            return Err(ApiError::new(ErrorCode::Conflict).with_header("retry-after", "1"));
        }
        Ok(Claim { purpose, id })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        HELD.lock().remove(&(self.purpose, self.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_change_at_a_time_per_purpose() {
        let id = Uuid::now_v7();
        let first = Claim::take(Purpose::OrderChange, id).unwrap();
        assert_eq!(Claim::take(Purpose::OrderChange, id).err().map(|e| e.code), Some(ErrorCode::Conflict));
        let payment = Claim::take(Purpose::StartPayment, id).expect("another purpose is free");
        drop(first);
        assert!(Claim::take(Purpose::OrderChange, id).is_ok(), "released when the change ends");
        drop(payment);
    }
}
