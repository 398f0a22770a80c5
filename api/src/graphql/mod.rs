//! The GraphQL API (DESIGN §5), wired in one place: the schema type, its limits, the services
//! it reaches through `ctx.data`, and the HTTP handlers (POST JSON; GET for queries only).
//!
//! `schema.graphql` at the workspace root is the sorted SDL export; `schema_file_is_current`
//! fails when it drifts from the code (`UPDATE_SCHEMA=1 cargo test -p carnet-api` rewrites it).

mod access;
mod connection;
pub mod error;
pub mod expensive;
mod history;
mod ids;
mod indicators;
mod integrity;
pub(crate) mod limits;
mod loaders;
mod mutation;
mod node;
pub(crate) mod person;
pub(crate) mod project;
mod query;
pub(crate) mod session;
mod storable;
mod subscription;

use crate::startup::AppState;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use async_graphql::{Schema, SchemaBuilder};
pub use mutation::Mutation;
pub use query::Query;
use serde::Deserialize;
pub use subscription::Subscription;

pub type CarnetSchema = Schema<Query, Mutation, Subscription>;

/// The request id the observer gave this request; errors carry it to the client.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
}

/// The schema with its services and limits.
pub fn build_schema(state: AppState) -> CarnetSchema {
    let introspection = state.config.introspection_enabled();
    let builder = builder()
        .data(state)
        .limit_depth(limits::DEPTH)
        .limit_complexity(limits::COMPLEXITY)
        .limit_recursive_depth(limits::RECURSIVE_DEPTH)
        // aliases, directives and fragment bombs, before async-graphql walks the document
        .extension(limits::DocumentLimits::default())
        // NULs and dates the database cannot hold: the client's mistake, not an internal error
        .extension(storable::StorableInputs);
    if introspection { builder.finish() } else { builder.disable_introspection().finish() }
}

/// The sorted SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}

/// `POST /graphql`: JSON only (no CSRF through form posts), one operation per request.
pub async fn post(schema: web::Data<CarnetSchema>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        return HttpResponse::UnsupportedMediaType().json(problem("send application/json"));
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return HttpResponse::BadRequest().json(problem(&format!("not a GraphQL request: {e}"))),
    };
    execute(&schema, &req, request).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    query: String,
    operation_name: Option<String>,
    variables: Option<String>,
}

/// `GET /graphql?query=…`: queries only; a mutation over GET is 405.
pub async fn get(schema: web::Data<CarnetSchema>, req: HttpRequest, params: web::Query<GetParams>) -> HttpResponse {
    let params = params.into_inner();
    if let Ok(doc) = async_graphql::parser::parse_query(&params.query) {
        let mutates = doc.operations.iter().any(|(name, op)| {
            let selected =
                params.operation_name.as_deref().is_none_or(|wanted| name.is_some_and(|n| n.as_str() == wanted));
            selected && op.node.ty != async_graphql::parser::types::OperationType::Query
        });
        if mutates {
            return HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, "POST"))
                .json(problem("mutations and subscriptions are not allowed over GET"));
        }
    }
    let mut request = async_graphql::Request::new(params.query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables {
        match serde_json::from_str(&vars) {
            Ok(v) => request = request.variables(async_graphql::Variables::from_json(v)),
            Err(e) => return HttpResponse::BadRequest().json(problem(&format!("variables: {e}"))),
        }
    }
    execute(&schema, &req, request).await
}

async fn execute(schema: &CarnetSchema, req: &HttpRequest, request: async_graphql::Request) -> HttpResponse {
    let request_id = req.extensions().get::<RequestId>().cloned().unwrap_or_else(|| RequestId("unknown".into()));
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return HttpResponse::InternalServerError().finish();
    };
    req.extensions_mut().insert(crate::access_log::Operation(operation_of(&request)));
    // one loader per request: its cache never outlives the request nor crosses callers
    let mut request = request.data(request_id.clone()).data(loaders::ReadModels::loader(state.store.clone()));
    match authenticate(state, req, &request_id).await {
        Ok(Some(identity)) => request = request.data(identity),
        Ok(None) => {}
        Err(refused) => return refused,
    }
    // the caller's budget (rate_limit.rs): over it, 429 and nothing runs; every answer from
    // here on says where the caller stands
    let admitted = match state.rate_limit.admit(req, &request.data) {
        Ok(admitted) => admitted,
        Err(limited) => return limited.response(&request_id.0),
    };
    let mut response = schema.execute(request).await;
    with_codes(&mut response.errors, &request_id.0);
    let unauthenticated = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from("UNAUTHENTICATED"))
    });
    if unauthenticated {
        // no token on a protected operation: the same 401 as a bad token, no partial data
        tracing::info!(request_id = %request_id.0, reason = "no token", "token refused");
        return admitted.stamp(unauthorized(&request_id));
    }
    admitted.stamp(HttpResponse::Ok().json(response))
}

/// The caller of an HTTP request: `None` without an `Authorization` header, else its
/// identity, or the answer that refuses the request:
/// - two `Authorization` headers: 400 (which one would count?);
/// - a refused token: 401 (one body whatever the reason), after spending one request of the
///   budget of the client's address (`rate_limit.rs`: the proxy's `X-Forwarded-For` only where
///   `trust_forwarded_for`), so that guessing tokens is rate-limited like anything else: over
///   that budget, 429 `RATE_LIMITED` instead;
/// - the people directory cannot be read: 500.
async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    request_id: &RequestId,
) -> Result<Option<crate::auth::Identity>, HttpResponse> {
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    let Some(header) = headers.next() else { return Ok(None) };
    if headers.next().is_some() {
        tracing::info!(request_id = %request_id.0, "two Authorization headers refused");
        return Err(HttpResponse::BadRequest().json(serde_json::json!({ "errors": [{
            "message": "un seul en-tête Authorization par requête",
            "extensions": { "code": "BAD_REQUEST", "requestId": request_id.0 },
        }] })));
    }
    let token = header.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
    match state.auth.authenticate(token).await {
        Ok(identity) => {
            let caller = crate::access_log::Caller { issuer: identity.issuer.clone(), subject: identity.sub.clone() };
            req.extensions_mut().insert(caller);
            Ok(Some(identity))
        }
        Err(e) if e.is_internal() => {
            tracing::error!(request_id = %request_id.0, error = %e, "cannot authenticate");
            Err(HttpResponse::InternalServerError().json(
                serde_json::json!({ "errors": [{ "message": "erreur interne", "extensions": { "code": "INTERNAL_SERVER_ERROR", "requestId": request_id.0 } }] }),
            ))
        }
        Err(e) => {
            // one answer for every bad token; the reason goes to the log only
            tracing::info!(request_id = %request_id.0, reason = %e, "token refused");
            let address = state.rate_limit.address_of(req);
            match state.rate_limit.check(&address) {
                Ok(admitted) => Err(admitted.stamp(unauthorized(request_id))),
                Err(limited) => {
                    metrics::counter!("carnet_rate_limited_total", "transport" => "http").increment(1);
                    Err(limited.response(&request_id.0))
                }
            }
        }
    }
}

/// What the access log calls the operation: its name, or else its root fields (`projects,me`).
fn operation_of(request: &async_graphql::Request) -> String {
    if let Some(name) = &request.operation_name {
        return name.chars().take(100).collect();
    }
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else { return "(unreadable)".into() };
    let mut fields = vec![];
    for (name, operation) in doc.operations.iter() {
        if let Some(name) = name {
            fields.push(name.to_string());
            continue;
        }
        for selection in &operation.node.selection_set.node.items {
            if let async_graphql::parser::types::Selection::Field(field) = &selection.node {
                fields.push(field.node.name.node.to_string());
            }
        }
    }
    fields.join(",").chars().take(100).collect()
}

/// The one answer to a missing or refused token, whatever the reason (the log has it): 401,
/// `WWW-Authenticate: Bearer` and an `UNAUTHENTICATED` error that differs only by request id.
fn unauthorized(request_id: &RequestId) -> HttpResponse {
    HttpResponse::Unauthorized().insert_header((header::WWW_AUTHENTICATE, "Bearer")).json(serde_json::json!({
        "errors": [{ "message": "authentification requise", "extensions": { "code": "UNAUTHENTICATED", "requestId": request_id.0 } }]
    }))
}

/// Gives every error a stable `extensions.code` (DESIGN §5) and the request id: resolvers set
/// theirs through `ApiError`; what async-graphql itself refuses before running anything (a
/// document that does not parse or validate, an unknown enum value, a limit of depth or
/// complexity) has no path and is `GRAPHQL_VALIDATION_FAILED`; an argument async-graphql cannot
/// read from the client's values (a required variable missing, a value of the wrong type) fails
/// at its field, with a path, and is `BAD_USER_INPUT`; anything else is internal, and its
/// message, which nothing vouches for, goes to the log and not to the client.
pub(crate) fn with_codes(errors: &mut [async_graphql::ServerError], request_id: &str) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            let code = match () {
                _ if error.path.is_empty() => "GRAPHQL_VALIDATION_FAILED",
                _ if is_input_error(&error.message) => "BAD_USER_INPUT",
                _ => {
                    tracing::error!(%request_id, error = %error.message, path = ?error.path, "internal error without a code");
                    error.message = "erreur interne".into();
                    "INTERNAL_SERVER_ERROR"
                }
            };
            extensions.set("code", code);
        }
        if extensions.get("requestId").is_none() {
            extensions.set("requestId", request_id);
        }
    }
}

/// The messages of async-graphql 7's input coercion (`InputValueError`, `Context::var_value`):
/// the client's values do not fit the argument. Pinned by the black-box fuzz test, which fails
/// on any `INTERNAL_SERVER_ERROR`.
fn is_input_error(message: &str) -> bool {
    message.starts_with("Failed to parse \"")
        || message.starts_with("Expected input type \"")
        || message.starts_with("Variable ") && message.ends_with(" is not defined.")
}

/// `GET /graphql` with a query string that does not parse (no `query`, bad encoding): 400, in
/// JSON like every other refusal of the endpoint.
pub(crate) fn bad_query_string(error: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let response = HttpResponse::BadRequest().json(problem(&format!("query string: {error}")));
    actix_web::error::InternalError::from_response(error, response).into()
}

fn problem(message: &str) -> serde_json::Value {
    serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }] })
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_file_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
        let sdl = super::sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &sdl).expect("write schema.graphql");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == sdl,
            "schema.graphql differs from the code; run `UPDATE_SCHEMA=1 cargo test -p carnet-api schema_file` and commit it"
        );
    }
}
