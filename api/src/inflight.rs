//! One bound on the memory all in-flight requests may make this process
//! hold. Every route group declares the most one of its requests can make
//! us hold; a request reserves that (or less, from its `Content-Length`)
//! before its body is read, and gives it back when its response is ready.
//! When the budget is spent the request is answered 503 with `Retry-After`
//! at once, before reading anything: providers retry, and no sender can
//! grow the process by opening more connections.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;

/// Permits are KiB, so a budget of gigabytes still fits the semaphore.
const UNIT: usize = 1024;

#[derive(Clone, Debug)]
pub struct InFlightBudget {
    permits: Arc<Semaphore>,
}

impl InFlightBudget {
    pub fn new(bytes: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(bytes.div_ceil(UNIT).max(1))) }
    }

    /// KiB not reserved right now (tests and metrics).
    pub fn available_kib(&self) -> usize {
        self.permits.available_permits()
    }
}

/// What one request of a route group may hold: `per_byte` times its body
/// (parsing expands it), never more than `at_most`. A request without a
/// `Content-Length` (chunked) reserves `at_most`.
#[derive(Clone, Copy, Debug)]
pub struct Reservation {
    pub per_byte: usize,
    pub at_most: usize,
}

impl Reservation {
    fn for_request(self, content_length: Option<usize>) -> usize {
        content_length.map_or(self.at_most, |n| n.saturating_mul(self.per_byte).min(self.at_most)).max(UNIT)
    }
}

/// Middleware state for one route group.
#[derive(Clone, Debug)]
pub struct Guarded {
    pub budget: InFlightBudget,
    pub reservation: Reservation,
}

pub async fn reserve(State(g): State<Guarded>, request: Request, next: Next) -> Response {
    let content_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let kib = g.reservation.for_request(content_length).div_ceil(UNIT);
    let Ok(_permit) = g.budget.permits.clone().try_acquire_many_owned(u32::try_from(kib).unwrap_or(u32::MAX)) else {
        tracing::warn!(reserve_kib = kib, "in-flight request budget spent; asking the sender to retry");
        let body = axum::Json(serde_json::json!({ "code": "busy", "detail": "too much in flight; retry shortly" }));
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reserves_its_expanded_length_within_the_groups_ceiling() {
        let r = Reservation { per_byte: 4, at_most: 1 << 20 };
        assert_eq!(r.for_request(Some(10_000)), 40_000);
        assert_eq!(r.for_request(Some(10 << 20)), 1 << 20);
        assert_eq!(r.for_request(None), 1 << 20, "chunked bodies reserve the ceiling");
        assert_eq!(r.for_request(Some(0)), UNIT);
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_at_once_and_frees_when_requests_finish() {
        let budget = InFlightBudget::new(4 * UNIT);
        let held = budget.permits.clone().try_acquire_many_owned(3).unwrap();
        assert_eq!(budget.available_kib(), 1);
        assert!(budget.permits.clone().try_acquire_many_owned(2).is_err());
        drop(held);
        assert_eq!(budget.available_kib(), 4);
    }
}
