//! A rate limit per caller (DESIGN §5): each caller has a budget of requests that refills at
//! `per_minute` and holds at most `burst` (GCRA, [`governor`]'s keyed limiter). A request over
//! the budget does not run: `/graphql` answers 429 `RATE_LIMITED` with `Retry-After`, and a
//! WebSocket `connection_init` closes the connection (see `ws.rs`).
//!
//! - **Who is the caller** ([`BudgetKey`]): the authenticated identity, `(issuer, sub)`, wherever it calls from;
//!   without a token, its network address (an IPv6 address by its /64, what one subscriber
//!   usually holds). Behind a reverse proxy every anonymous caller would share the proxy's
//!   address: `trust_forwarded_for` keys them by the address the proxy appended to
//!   `X-Forwarded-For` instead (only behind a proxy that sets it: otherwise anyone could choose
//!   their key).
//! - **What it counts**: each GraphQL request (one operation each, batches are refused), each
//!   WebSocket `connection_init` and each WebSocket `subscribe`. A request whose token is refused
//!   counts against its address (so guessing tokens is limited like anything else: over the
//!   budget, 429 instead of 401); requests refused before any of that (not JSON, too large) are
//!   not counted.
//! - **Headers**: every answer to a counted request carries `x-ratelimit-limit` (the budget's
//!   size, `burst`), `x-ratelimit-remaining` (requests left right now) and `x-ratelimit-reset`
//!   (seconds until the budget is whole again), as delta-seconds like the IETF `RateLimit`
//!   fields; a refusal adds `Retry-After` (seconds until one more request is allowed).
//! - **Memory**: callers whose budget is whole again are indistinguishable from new ones;
//!   [`FORGET_EVERY`], they are forgotten (`retain_recent`), so the table holds only the
//!   callers of the last minutes.
//!
//! `per_minute = 0` turns the limit off (no headers either); `carnet-bench http` does, since it
//! drives the server with one token far above any caller's budget.

use crate::auth::Identity;
use crate::graphql::error::ApiError;
use crate::graphql::request::Transport;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{NotUntil, Quota};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often callers with a whole budget are forgotten.
pub const FORGET_EVERY: Duration = Duration::from_secs(60);

/// `[rate_limit]` in `carnet.toml`; `CARNET_RATE_LIMIT='{per_minute=600,burst=100}'`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per minute a caller may keep up; 0 turns the limit off.
    pub per_minute: u32,
    /// Requests a caller may send at once (the budget's size); at least 1.
    pub burst: u32,
    /// Key anonymous callers by the last address of `X-Forwarded-For` (set it only behind a
    /// reverse proxy that appends it).
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitConfig {
    /// A front end sends a few requests per page: 600 a minute (10 a second, kept up) with 100
    /// at once leaves any person clicking through pages far below the limit, and stops a
    /// script at 10 requests a second.
    fn default() -> Self {
        Self { per_minute: 600, burst: 100, trust_forwarded_for: false }
    }
}

/// Who a budget belongs to.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum BudgetKey {
    Identity { issuer: String, sub: String },
    Address(IpAddr),
}

impl BudgetKey {
    pub fn of(identity: &Identity) -> Self {
        Self::Identity { issuer: identity.issuer.clone(), sub: identity.sub.clone() }
    }

    /// An address as a key: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
    pub fn address(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            },
            v4 => v4,
        };
        Self::Address(ip)
    }
}

type Keyed<C> = governor::RateLimiter<BudgetKey, DashMapStateStore<BudgetKey>, C, StateInformationMiddleware>;

/// The budgets of every caller; cheap to clone (one table per process).
#[derive(Clone)]
pub struct RateLimit {
    /// `None`: the limit is off.
    buckets: Option<Arc<Buckets>>,
    trust_forwarded_for: bool,
}

struct Buckets<C: Clock = DefaultClock> {
    limiter: Keyed<C>,
    quota: Quota,
}

/// Where a caller stands after a request was let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    /// Until the budget is whole again.
    pub reset: Duration,
}

/// A request over the caller's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub budget: Budget,
    /// Until one more request is allowed.
    pub retry_after: Duration,
}

/// The outcome of a let-through request: its budget, or nothing when the limit is off.
#[derive(Clone, Copy, Debug)]
pub struct Admitted(Option<Budget>);

impl RateLimit {
    /// The limiter of `config`; inside a Tokio runtime, it also starts forgetting idle callers
    /// every [`FORGET_EVERY`] (until the last clone is dropped).
    pub fn new(config: &RateLimitConfig) -> Self {
        let buckets = NonZeroU32::new(config.per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
            Arc::new(Buckets::new(Quota::per_minute(per_minute).allow_burst(burst), DefaultClock::default()))
        });
        if let Some(buckets) = &buckets
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(forget_idle(Arc::downgrade(buckets)));
        }
        Self { buckets, trust_forwarded_for: config.trust_forwarded_for }
    }

    /// Spends one request of `key`'s budget; a refusal is counted in
    /// `carnet_rate_limited_total`, by `transport`.
    pub fn spend(&self, key: &BudgetKey, transport: Transport) -> Result<Admitted, Limited> {
        let Some(buckets) = &self.buckets else { return Ok(Admitted(None)) };
        buckets.check(key).map(|budget| Admitted(Some(budget))).inspect_err(|_| {
            metrics::counter!(crate::telemetry::metric::RATE_LIMITED, "transport" => transport.label()).increment(1);
        })
    }

    /// The address key of the request's sender (see `trust_forwarded_for`).
    pub fn address_of(&self, req: &HttpRequest) -> BudgetKey {
        let forwarded = || {
            let last = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).last()?;
            last.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
        };
        let forwarded = if self.trust_forwarded_for { forwarded() } else { None };
        let peer = req.peer_addr().map(|a| a.ip());
        BudgetKey::address(forwarded.or(peer).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)))
    }
}

impl<C: Clock> Buckets<C> {
    fn new(quota: Quota, clock: C) -> Self {
        Self { limiter: governor::RateLimiter::dashmap_with_clock(quota, clock).with_middleware(), quota }
    }

    fn check(&self, caller: &BudgetKey) -> Result<Budget, Limited> {
        let limit = self.quota.burst_size().get();
        let interval = self.quota.replenish_interval();
        match self.limiter.check_key(caller) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity().min(limit);
                Ok(Budget { limit, remaining, reset: interval * (limit - remaining) })
            }
            Err(not_until) => {
                let retry_after = wait(&not_until, self.limiter.clock().now());
                let reset = retry_after + interval * (limit - 1);
                Err(Limited { budget: Budget { limit, remaining: 0, reset }, retry_after })
            }
        }
    }
}

fn wait<P: Reference>(not_until: &NotUntil<P>, now: P) -> Duration {
    not_until.wait_time_from(now)
}

async fn forget_idle<C: Clock>(buckets: Weak<Buckets<C>>) {
    let mut every = tokio::time::interval(FORGET_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(buckets) = buckets.upgrade() else { return };
        buckets.limiter.retain_recent();
        buckets.limiter.shrink_to_fit();
        metrics::gauge!(crate::telemetry::metric::RATE_LIMIT_CALLERS).set(buckets.limiter.len() as f64);
    }
}

/// Whole seconds, rounded up: a client that waits that long is never early.
pub fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Budget {
    fn insert_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("x-ratelimit-limit", u64::from(self.limit)),
            ("x-ratelimit-remaining", u64::from(self.remaining)),
            ("x-ratelimit-reset", seconds(self.reset)),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
}

impl Admitted {
    /// `response`, with the caller's budget in its headers.
    pub fn stamp(&self, mut response: HttpResponse) -> HttpResponse {
        if let Some(budget) = &self.0 {
            budget.insert_headers(response.headers_mut());
        }
        response
    }

    pub fn budget(&self) -> Option<Budget> {
        self.0
    }
}

impl Limited {
    /// Whole seconds a client waits before trying again (at least 1).
    pub fn retry_after_seconds(&self) -> u64 {
        seconds(self.retry_after).max(1)
    }

    /// The `RATE_LIMITED` error of this refusal, with the seconds to wait.
    pub fn error(&self) -> ApiError {
        ApiError::RateLimited { retry_after_seconds: self.retry_after_seconds() }
    }

    /// 429 with `Retry-After`, the budget's headers and a `RATE_LIMITED` error.
    pub fn response(&self, request_id: &str) -> HttpResponse {
        let mut response = HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, self.retry_after_seconds()))
            .json(self.error().into_body(request_id));
        self.budget.insert_headers(response.headers_mut());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn buckets(per_minute: u32, burst: u32) -> (Buckets<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let quota =
            Quota::per_minute(NonZeroU32::new(per_minute).unwrap()).allow_burst(NonZeroU32::new(burst).unwrap());
        (Buckets::new(quota, clock.clone()), clock)
    }

    fn alice() -> BudgetKey {
        BudgetKey::Identity { issuer: "carnet".into(), sub: "alice".into() }
    }

    #[test]
    fn a_caller_spends_its_burst_then_waits_for_the_refill() {
        let (buckets, clock) = buckets(60, 3);
        let remaining: Vec<_> = (0..3).map(|_| buckets.check(&alice()).expect("within the burst").remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let limited = buckets.check(&alice()).expect_err("over the burst");
        assert_eq!(limited.retry_after, Duration::from_secs(1), "one request a second refills");
        assert_eq!(limited.retry_after_seconds(), 1);
        assert_eq!(limited.budget, Budget { limit: 3, remaining: 0, reset: Duration::from_secs(3) });
        clock.advance(Duration::from_secs(1));
        let budget = buckets.check(&alice()).expect("refilled by one");
        assert_eq!((budget.remaining, budget.reset), (0, Duration::from_secs(3)));
        clock.advance(Duration::from_secs(10));
        assert_eq!(buckets.check(&alice()).unwrap().remaining, 2, "whole again, less this request");
    }

    #[test]
    fn callers_have_budgets_of_their_own() {
        let (buckets, _) = buckets(60, 1);
        buckets.check(&alice()).unwrap();
        assert!(buckets.check(&alice()).is_err());
        let bob = BudgetKey::Identity { issuer: "carnet".into(), sub: "bob".into() };
        assert!(buckets.check(&bob).is_ok(), "bob is not alice");
        let other_issuer = BudgetKey::Identity { issuer: "proconnect".into(), sub: "alice".into() };
        assert!(buckets.check(&other_issuer).is_ok(), "the same sub at another issuer is someone else");
    }

    #[test]
    fn idle_callers_are_forgotten() {
        let (buckets, clock) = buckets(60, 2);
        buckets.check(&alice()).unwrap();
        buckets.check(&BudgetKey::address("10.0.0.1".parse().unwrap())).unwrap();
        assert_eq!(buckets.limiter.len(), 2);
        clock.advance(Duration::from_secs(5));
        buckets.limiter.retain_recent();
        assert_eq!(buckets.limiter.len(), 0);
    }

    #[test]
    fn ipv6_callers_are_keyed_by_their_64() {
        let a = BudgetKey::address("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = BudgetKey::address("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = BudgetKey::address("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            BudgetKey::address("::ffff:192.0.2.7".parse().unwrap()),
            BudgetKey::address("192.0.2.7".parse().unwrap())
        );
    }

    #[test]
    fn off_means_no_budget_at_all() {
        let limit = RateLimit::new(&RateLimitConfig { per_minute: 0, ..Default::default() });
        for _ in 0..1000 {
            assert!(limit.spend(&alice(), Transport::Http).expect("never limited").budget().is_none());
        }
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(seconds(Duration::from_millis(1)), 1);
        assert_eq!(seconds(Duration::from_secs(2)), 2);
        assert_eq!(seconds(Duration::from_millis(2001)), 3);
        assert_eq!(seconds(Duration::ZERO), 0);
    }
}
