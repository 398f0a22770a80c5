//! The metrics of the command side, each name declared once here; `describe` gives them (and
//! the read models') their help text on `/metrics`.

/// Events the live feed followed and broadcast to the subscriptions.
pub const LIVE_EVENTS: &str = "carnet_live_events_total";

pub fn describe() {
    metrics::describe_counter!(LIVE_EVENTS, "Events the live feed followed and broadcast to the subscriptions.");
    carnet_projections::metrics::describe();
}
