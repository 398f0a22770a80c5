//! Logging: one function builds the subscriber, with the sink as a parameter so tests can
//! silence it (zero-to-production `telemetry.rs`). JSON in production, readable otherwise.
//!
//! Metrics: the server's names are declared once, in [`metric`] (the command side's in
//! `carnet_lab::metrics`, the read models' in `carnet_projections::metrics`); [`metric::describe`]
//! gives every one its help text on `/metrics`.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub fn init<W>(format: LogFormat, sink: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink);
    // a second init (tests, embedding) keeps the first subscriber
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The server's metric names, each declared once.
pub mod metric {
    pub const HTTP_REQUESTS: &str = "carnet_http_requests_total";
    pub const HTTP_REQUEST_DURATION: &str = "carnet_http_request_duration_seconds";
    pub const RATE_LIMITED: &str = "carnet_rate_limited_total";
    pub const RATE_LIMIT_CALLERS: &str = "carnet_rate_limit_callers";
    pub const ACCESS_LOG_DROPPED: &str = "carnet_access_log_dropped_total";
    pub const EXPENSIVE_REFUSED: &str = "carnet_expensive_refused_total";
    pub const SUBSCRIPTIONS_LAGGED: &str = "carnet_live_subscriptions_lagged_total";
    pub const WS_CONNECTIONS: &str = "carnet_ws_connections";
    pub const LIVE_BACKLOG: &str = "carnet_live_backlog_events";

    /// Every metric's help text (the server's, the command side's and the read models').
    pub fn describe() {
        metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route and status.");
        metrics::describe_histogram!(HTTP_REQUEST_DURATION, "Time to answer an HTTP request, in seconds.");
        metrics::describe_counter!(RATE_LIMITED, "Requests refused by the rate limit, by transport.");
        metrics::describe_gauge!(RATE_LIMIT_CALLERS, "Callers with a rate-limit budget in memory.");
        metrics::describe_counter!(ACCESS_LOG_DROPPED, "Access-log records dropped (queue full or write failed).");
        metrics::describe_counter!(EXPENSIVE_REFUSED, "Expensive queries refused because too many were running.");
        metrics::describe_counter!(SUBSCRIPTIONS_LAGGED, "Times a subscription fell behind the live feed.");
        metrics::describe_gauge!(WS_CONNECTIONS, "Open WebSocket connections.");
        metrics::describe_gauge!(LIVE_BACKLOG, "Committed events the live feed has not followed yet.");
        carnet_lab::metrics::describe();
    }
}
