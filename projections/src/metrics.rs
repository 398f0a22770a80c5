//! The metrics the read models record, each name declared once here; `describe` gives them
//! their help text on `/metrics` (the server calls it when it installs its recorder).

/// Statements run against the read models, by kind (`carnet_read_model_statements_total`).
pub const READ_MODEL_STATEMENTS: &str = "carnet_read_model_statements_total";
/// Events read from the log to answer a request, by reader (`as_of`, `history`).
pub const LOG_EVENTS_READ: &str = "carnet_log_events_read_total";

pub fn describe() {
    metrics::describe_counter!(READ_MODEL_STATEMENTS, "Statements run against the read models, by kind.");
    metrics::describe_counter!(LOG_EVENTS_READ, "Events read from the log to answer a request, by reader.");
}
