//! The HTTP side of a GraphQL answer (GraphQL over HTTP, the draft the `graphql-http` audit
//! checks): which media type, which status, which keys.
//!
//! - **Media type.** `application/graphql-response+json` when the client's `Accept` takes it
//!   (with a `q` at least that of `application/json`); otherwise `application/json`, which is
//!   also the answer to `*/*`, `application/*`, no `Accept`, or only types Carnet does not
//!   speak (the spec allows that rather than a 406, and a front end always reads JSON).
//! - **Status.** Under `application/json`, 200 for every well-formed GraphQL request, whatever
//!   its errors (the spec's legacy rule, which clients of that type expect). Under
//!   `application/graphql-response+json`, a request that never ran (a document that does not
//!   parse or validate, a limit of `limits.rs`, a variable that cannot be coerced) is 400; one
//!   that ran is 200, even when `data` is `null`. Whatever the media type, a body that is not a
//!   GraphQL request (not JSON, not an object — `[]` included, `query` missing or not a string,
//!   `variables`, `operationName` or `extensions` of the wrong type) is 400, a missing or
//!   refused token 401, a spent budget 429.
//! - **`data`.** Absent when the request never ran (the spec's "request error"), present
//!   otherwise, `null` included: "ran" is known from [`Execution`], marked by the pipeline's
//!   extension (`request::Traced`) in its `execute` hook, which async-graphql calls only once the
//!   request is parsed, validated and its variables checked.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The media types of a GraphQL answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: statuses tell what happened.
    GraphqlResponse,
    /// `application/json`: 200 for every GraphQL answer.
    Json,
}

impl MediaType {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// The media type the client's `Accept` prefers (see the module docs).
pub fn response_media_type(req: &HttpRequest) -> MediaType {
    let accept = req.headers().get_all(header::ACCEPT).filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    media_type_for(&accept)
}

fn media_type_for(accept: &str) -> MediaType {
    let (mut graphql, mut json) = (0.0_f32, 0.0_f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        match media.as_str() {
            "application/graphql-response+json" => graphql = graphql.max(q),
            "application/json" | "application/*" | "*/*" => json = json.max(q),
            _ => {}
        }
    }
    if graphql > 0.0 && graphql >= json { MediaType::GraphqlResponse } else { MediaType::Json }
}

/// An answer of `media` type with `status` (the rate limiter stamps its headers afterwards).
pub fn answer(media: MediaType, status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::CONTENT_TYPE, media.content_type()));
    builder
}

/// The status of a GraphQL answer that async-graphql produced: 400 under
/// `application/graphql-response+json` for a request that never ran, else 200.
pub fn status_of(media: MediaType, executed: bool) -> StatusCode {
    match (media, executed) {
        (MediaType::GraphqlResponse, false) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

/// The body of a GraphQL answer: the response, without `data` when the request never ran.
pub fn response_body(response: &async_graphql::Response, executed: bool) -> serde_json::Value {
    let mut body = serde_json::to_value(response).unwrap_or_else(|_| serde_json::json!({}));
    if !executed && let Some(object) = body.as_object_mut() {
        object.remove("data");
    }
    body
}

/// Whether the request got as far as running its operation; marked by `request::Traced`,
/// read by the handler (put one in each request's data).
#[derive(Clone, Debug, Default)]
pub struct Execution(Arc<AtomicBool>);

impl Execution {
    pub fn started(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(super) fn mark_started(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graphql_response_type_when_the_client_takes_it() {
        assert_eq!(media_type_for(""), MediaType::Json, "no Accept");
        assert_eq!(media_type_for("*/*"), MediaType::Json);
        assert_eq!(media_type_for("text/html"), MediaType::Json, "nothing else to offer");
        assert_eq!(media_type_for("application/graphql-response+json"), MediaType::GraphqlResponse);
        assert_eq!(
            media_type_for("application/graphql-response+json, application/json;q=0.9"),
            MediaType::GraphqlResponse
        );
        assert_eq!(media_type_for("application/json, application/graphql-response+json;q=0.5"), MediaType::Json);
        assert_eq!(media_type_for("application/graphql-response+json;q=0"), MediaType::Json, "refused");
        assert_eq!(media_type_for("Application/GraphQL-Response+JSON ; charset=utf-8"), MediaType::GraphqlResponse);
    }
}
