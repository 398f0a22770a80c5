//! The GraphQL API (DESIGN §5), wired in one place: the schema type, its limits, the services
//! it reaches through `ctx.data`, and the HTTP handlers (POST JSON; GET for queries only).
//!
//! Around async-graphql, for clients: `request.rs` (the pipeline HTTP and WebSocket share:
//! authentication, rate limit, access-log tagging, error codes and the operation's span),
//! `error.rs` (every error answer, GraphQL's and the server's), `negotiation.rs` (media types,
//! statuses, the `data` key of GraphQL over HTTP), `nulls.rs` (null propagation at the root),
//! `checks.rs` (what is refused before anything runs: `limits.rs`, `storable.rs`,
//! `variables.rs`), `french.rs` (async-graphql's messages in French).
//!
//! Per resource, its types and queries are side by side (`project.rs`, `session.rs`,
//! `person.rs`, …) and its mutations, inputs and payloads in `mutation/<resource>.rs`.
//!
//! `schema.graphql` at the workspace root is the sorted SDL export; `schema_file_is_current`
//! fails when it drifts from the code (`UPDATE_SCHEMA=1 cargo test -p carnet-api` rewrites it).

mod access;
mod checks;
mod connection;
pub mod error;
pub mod expensive;
mod french;
mod history;
mod ids;
mod indicators;
mod integrity;
pub(crate) mod limits;
mod loaders;
mod mutation;
mod negotiation;
mod node;
mod nulls;
pub(crate) mod person;
pub(crate) mod project;
pub(crate) mod proofs;
mod query;
pub(crate) mod request;
pub(crate) mod session;
mod storable;
mod subscription;
mod variables;

use crate::startup::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use async_graphql::{Schema, SchemaBuilder};
use checks::Checked;
use error::ApiError;
pub use mutation::Mutation;
pub use query::Query;
use request::{Outcome, Pipeline, RequestId, Transport};
use serde::Deserialize;
pub use subscription::Subscription;

pub type CarnetSchema = Schema<Query, Mutation, Subscription>;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
}

/// The schema with its services and limits.
pub fn build_schema(state: AppState) -> CarnetSchema {
    let introspection = state.config.introspection_enabled();
    let builder = builder()
        .data(state)
        // depth is counted by DocumentLimits, introspection apart (limits.rs)
        .limit_complexity(limits::COMPLEXITY)
        .limit_recursive_depth(limits::RECURSIVE_DEPTH)
        // in this order, one extension for the three (checks.rs): aliases, directives and
        // fragment bombs, before async-graphql walks the document; NULs and dates the database
        // cannot hold (the client's mistake, not an internal error); a required variable
        // without a value, refused before anything runs
        .extension(Checked((limits::DocumentLimits::default(), storable::StorableInputs, variables::RequiredVariables)))
        // whether a request ran, for its status and its `data` key (negotiation.rs); each
        // operation's span; over WebSocket, the same codes, request id, French and log lines as
        // over HTTP (request.rs)
        .extension(request::Traced);
    if introspection { builder.finish() } else { builder.disable_introspection().finish() }
}

/// The sorted SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}

/// `POST /graphql`: JSON only (no CSRF through form posts), one operation per request.
pub async fn post(
    schema: web::Data<CarnetSchema>,
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
    let media = negotiation::response_media_type(&req);
    let body = match body {
        Ok(body) => body,
        Err(e) if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!(
                "requête trop grande : au plus {} Kio (le document GraphQL et ses variables)",
                crate::startup::BODY_LIMIT / 1024
            );
            return refuse(&req, media, StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
        Err(_) => return refuse(&req, media, StatusCode::BAD_REQUEST, "le corps de la requête est illisible"),
    };
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        let message = "envoyez la requête en JSON, avec l'en-tête « Content-Type: application/json »";
        return refuse(&req, media, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    match read_post_body(&body) {
        Ok(request) => execute(&schema, &req, request, media).await,
        Err(message) => refuse(&req, media, StatusCode::BAD_REQUEST, &message),
    }
}

/// The body of a POST: a JSON object with `query` (a string), and `operationName` (a string),
/// `variables` and `extensions` (objects), each of them absent or `null` if unused. Anything
/// else is refused with a message naming what is wrong, before any GraphQL is read.
fn read_post_body(body: &[u8]) -> Result<async_graphql::Request, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Eof if body.iter().all(u8::is_ascii_whitespace) => {
            "le corps de la requête est vide : envoyez un objet JSON { \"query\": \"…\" }".to_owned()
        }
        _ => format!("le corps de la requête n'est pas du JSON valide (ligne {}, colonne {})", e.line(), e.column()),
    })?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err("le corps de la requête doit être un objet JSON { \"query\": \"…\" } : \
                    une liste de requêtes n'est pas acceptée"
            .to_owned());
    };
    let query = match fields.remove("query") {
        Some(serde_json::Value::String(query)) => query,
        None | Some(serde_json::Value::Null) => return Err("le champ « query » manque".to_owned()),
        Some(_) => return Err("le champ « query » doit être une chaîne (le document GraphQL)".to_owned()),
    };
    let mut request = async_graphql::Request::new(query);
    match fields.remove("operationName") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("le champ « operationName » doit être une chaîne".to_owned()),
    }
    match fields.remove("variables") {
        None | Some(serde_json::Value::Null) => {}
        Some(variables @ serde_json::Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(variables))
        }
        Some(_) => return Err("le champ « variables » doit être un objet".to_owned()),
    }
    match fields.remove("extensions") {
        None | Some(serde_json::Value::Null) => {}
        Some(extensions @ serde_json::Value::Object(_)) => {
            request.extensions = serde_json::from_value(extensions).unwrap_or_default();
        }
        Some(_) => return Err("le champ « extensions » doit être un objet".to_owned()),
    }
    Ok(request)
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
    let media = negotiation::response_media_type(&req);
    let params = params.into_inner();
    if let Ok(doc) = async_graphql::parser::parse_query(&params.query) {
        let mutates = doc.operations.iter().any(|(name, op)| {
            let selected =
                params.operation_name.as_deref().is_none_or(|wanted| name.is_some_and(|n| n.as_str() == wanted));
            selected && op.node.ty != async_graphql::parser::types::OperationType::Query
        });
        if mutates {
            let message = "les mutations et les abonnements ne passent pas par GET : utilisez POST";
            let mut refused = refuse(&req, media, StatusCode::METHOD_NOT_ALLOWED, message);
            refused.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return refused;
        }
    }
    let mut request = async_graphql::Request::new(params.query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables {
        match serde_json::from_str::<serde_json::Value>(&vars) {
            Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Null)) => {
                request = request.variables(async_graphql::Variables::from_json(v))
            }
            _ => {
                let message = "le paramètre « variables » doit être un objet JSON";
                return refuse(&req, media, StatusCode::BAD_REQUEST, message);
            }
        }
    }
    execute(&schema, &req, request, media).await
}

/// Runs an HTTP request through the pipeline (`request.rs`), then async-graphql.
async fn execute(
    schema: &CarnetSchema,
    req: &HttpRequest,
    request: async_graphql::Request,
    media: negotiation::MediaType,
) -> HttpResponse {
    let request_id = req.extensions().get::<RequestId>().cloned().unwrap_or_else(|| RequestId("unknown".into()));
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return HttpResponse::InternalServerError().finish();
    };
    request::tag_operation(req, &request);
    // one loader per request: its cache never outlives the request nor crosses callers
    let mut request = request.data(request_id.clone()).data(loaders::ReadModels::loader(state.store.clone()));
    let token = match bearer_token(req) {
        Ok(token) => token,
        Err(()) => {
            tracing::info!(request_id = %request_id.0, "two Authorization headers refused");
            let body =
                ApiError::BadRequest("un seul en-tête Authorization par requête".into()).into_body(&request_id.0);
            return HttpResponse::BadRequest().json(body);
        }
    };
    let pipeline = Pipeline {
        auth: &state.auth,
        rate_limit: &state.rate_limit,
        transport: Transport::Http,
        request_id: &request_id.0,
    };
    let admission = pipeline.admit(token, state.rate_limit.address_of(req)).await;
    if let Some(identity) = admission.identity {
        request::tag_caller(req, &identity);
        request = request.data(identity);
    }
    // every answer from here on says where the caller stands in its budget (rate_limit.rs)
    let admitted = match admission.outcome {
        Outcome::Admitted(admitted) => admitted,
        Outcome::Refused(admitted) => return admitted.stamp(unauthorized(&request_id)),
        Outcome::Limited(limited) => return limited.response(&request_id.0),
        Outcome::Failed(e) => return directory_failed(e, &request_id),
    };
    let execution = negotiation::Execution::default();
    let mut request = request.data(execution.clone());
    let roots = nulls::RootFields::of(&mut request);
    let mut response = schema.execute(request).await;
    request::with_codes(&mut response.errors, &request_id.0);
    if request::has_code(&response.errors, "UNAUTHENTICATED") {
        // no token on a protected operation: the same 401 as a bad token, no partial data
        tracing::info!(request_id = %request_id.0, reason = "no token", "token refused");
        return admitted.stamp(unauthorized(&request_id));
    }
    request::tag_error_codes(req, &response.errors);
    admitted.stamp(graphql_answer(media, &roots, execution.started(), response))
}

/// The HTTP answer to a request async-graphql handled: root nulls propagated if it ran, status
/// and `data` key as the media type wants (negotiation.rs).
fn graphql_answer(
    media: negotiation::MediaType,
    roots: &nulls::RootFields,
    executed: bool,
    mut response: async_graphql::Response,
) -> HttpResponse {
    if executed {
        roots.propagate(&mut response);
    }
    // a database outage is 503 + Retry-After whatever the media type (error.rs)
    let (status, retry_after) = match error::http_status(&response) {
        (status, Some(seconds)) => (status, Some(seconds)),
        _ => (negotiation::status_of(media, executed), None),
    };
    let mut answer = negotiation::answer(media, status);
    if let Some(seconds) = retry_after {
        answer.insert_header((header::RETRY_AFTER, seconds.to_string()));
    }
    answer.json(negotiation::response_body(&response, executed))
}

/// The bearer token of an HTTP request: `None` without an `Authorization` header (an
/// anonymous caller), empty when the header is not `Bearer …` (refused as a bad token); two
/// headers are refused (which one would count?).
fn bearer_token(req: &HttpRequest) -> Result<Option<&str>, ()> {
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    let Some(header) = headers.next() else { return Ok(None) };
    if headers.next().is_some() {
        return Err(());
    }
    Ok(Some(header.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default()))
}

/// The people directory cannot be read while authenticating: 503 `UNAVAILABLE` with
/// `Retry-After` when the database does not answer (retry), else 500; logged with its cause
/// either way (error.rs).
fn directory_failed(e: crate::auth::AuthError, request_id: &RequestId) -> HttpResponse {
    let body = ApiError::internal(Box::new(e)).into_body(&request_id.0);
    if body.code() == error::UNAVAILABLE {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, error::RETRY_AFTER_SECONDS.to_string()))
            .json(body)
    } else {
        HttpResponse::InternalServerError().json(body)
    }
}

/// The one answer to a missing or refused token, whatever the reason (the log has it): 401,
/// `WWW-Authenticate: Bearer` and an `UNAUTHENTICATED` error that differs only by request id.
fn unauthorized(request_id: &RequestId) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .json(ApiError::Unauthenticated.into_body(&request_id.0))
}

/// `GET /graphql` with a query string that does not parse (no `query`, bad encoding): 400, in
/// JSON like every other refusal of the endpoint.
pub(crate) fn bad_query_string(error: actix_web::error::QueryPayloadError, req: &HttpRequest) -> actix_web::Error {
    let message = match &error {
        actix_web::error::QueryPayloadError::Deserialize(e) if e.to_string().contains("missing field `query`") => {
            "le paramètre « query » manque (le document GraphQL)".to_owned()
        }
        _ => "les paramètres de l'adresse sont illisibles : « query », « operationName » et « variables » \
              doivent être encodés comme une adresse (URL)"
            .to_owned(),
    };
    let response = refuse(req, negotiation::response_media_type(req), StatusCode::BAD_REQUEST, &message);
    actix_web::error::InternalError::from_response(error, response).into()
}

/// A request refused before any GraphQL is read (not JSON, not a GraphQL request, a mutation
/// over GET…): `status`, `BAD_REQUEST` and the request id, in `media`; logged like every error
/// answered.
fn refuse(req: &HttpRequest, media: negotiation::MediaType, status: StatusCode, message: &str) -> HttpResponse {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    tracing::info!(%request_id, code = "BAD_REQUEST", status = status.as_u16(), cause = message, "error answered");
    negotiation::answer(media, status).json(ApiError::BadRequest(message.to_owned()).into_body(&request_id))
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
