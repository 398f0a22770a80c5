//! Operational endpoints (DESIGN §7) and the request observer.

use crate::startup::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use std::time::Instant;

/// GraphiQL's files, inside the binary (no CDN: ministry networks are closed).
const GRAPHIQL_ASSETS: &[(&str, &str, &[u8])] = &[
    ("graphiql.min.js", "text/javascript", include_bytes!("../assets/vendor/graphiql/graphiql.min.js")),
    ("graphiql.min.css", "text/css", include_bytes!("../assets/vendor/graphiql/graphiql.min.css")),
    ("react.production.min.js", "text/javascript", include_bytes!("../assets/vendor/graphiql/react.production.min.js")),
    (
        "react-dom.production.min.js",
        "text/javascript",
        include_bytes!("../assets/vendor/graphiql/react-dom.production.min.js"),
    ),
    ("graphiql-init.js", "text/javascript", include_bytes!("../assets/graphiql/graphiql-init.js")),
];

/// GraphiQL's page at `/`, when enabled, with its settings: in development (`dev_tokens.rs`),
/// the `LAB_TEAM` token in the Authorization header, kept across reloads; otherwise none.
pub async fn graphiql(state: web::Data<AppState>) -> HttpResponse {
    if !state.config.graphiql_enabled() {
        return HttpResponse::NotFound().finish();
    }
    let settings = match &state.dev_tokens {
        Some(tokens) => {
            let headers = serde_json::json!({ "Authorization": format!("Bearer {}", tokens.lab_team()) });
            let headers = serde_json::to_string_pretty(&headers).unwrap_or_default();
            serde_json::json!({ "defaultHeaders": headers, "persistHeaders": true })
        }
        None => serde_json::json!({}),
    };
    // inside a <script> element: no `</` may close it early
    let settings = settings.to_string().replace("</", "<\\/");
    let page = include_str!("../assets/graphiql/index.html").replace("{{CARNET_GRAPHIQL_CONFIG}}", &settings);
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        // the page may carry a token: never cached
        .insert_header(("cache-control", "no-store"))
        .body(page)
}

pub async fn graphiql_asset(state: web::Data<AppState>, file: web::Path<String>) -> HttpResponse {
    let asset = GRAPHIQL_ASSETS.iter().find(|(name, _, _)| *name == file.as_str());
    match asset {
        Some((_, content_type, bytes)) if state.config.graphiql_enabled() => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header(("cache-control", "public, max-age=86400"))
            .body(*bytes),
        _ => HttpResponse::NotFound().finish(),
    }
}

/// Alive: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready: the database answers and the projections are caught up (DESIGN §7). The read models
/// are projected inside each append's transaction, so they never lag; what follows the log
/// asynchronously is the live feed of the subscriptions: it must run, and be no more than
/// `readiness_max_lag` events behind the log.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let unavailable = |reason: String| {
        tracing::warn!(%reason, "not ready");
        HttpResponse::ServiceUnavailable().content_type("text/plain").body(reason)
    };
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "database unreachable");
        return unavailable("database unreachable".into());
    }
    if let Some(breach) = state.log_guard.breach() {
        return unavailable(format!("the log is not whole: {breach}"));
    }
    if !state.live.is_following() {
        return unavailable("the live feed is not following the log".into());
    }
    let bound = state.config.readiness_max_lag;
    match state.live.backlog(&state.store, bound).await {
        Ok(backlog) => {
            metrics::gauge!(crate::telemetry::metric::LIVE_BACKLOG).set(backlog as f64);
            if backlog > bound {
                return unavailable(format!("the live feed is more than {bound} events behind the log"));
            }
            HttpResponse::Ok().content_type("text/plain").body("ready")
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure the live feed's lag");
            unavailable("cannot measure the live feed's lag".into())
        }
    }
}

/// Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

/// The longest request id kept from a proxy.
const MAX_REQUEST_ID: usize = 128;

/// The id of a request: the `x-request-id` a trusted reverse proxy gave it (so that the proxy's
/// logs and Carnet's name the same request), when the configuration trusts the proxy in front
/// (`rate_limit.trust_forwarded_for`, the same trust as for `X-Forwarded-For`) and the id is
/// 1 to 128 visible ASCII characters of `[A-Za-z0-9._:-]` (nothing that could forge a log
/// line); otherwise a new UUID v7, whatever the client sent.
fn request_id_of(req: &ServiceRequest, trust_proxy: bool) -> String {
    let given = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).filter(|id| {
        (1..=MAX_REQUEST_ID).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    });
    match given {
        Some(id) if trust_proxy => id.to_owned(),
        _ => uuid::Uuid::now_v7().to_string(),
    }
}

/// The error codes the access log records for an answer: those the GraphQL handler set, or
/// else what the status alone says (a refusal made before the handler ran, or without it).
fn error_codes_of(extensions: &actix_web::dev::Extensions, status: u16) -> Option<String> {
    if let Some(codes) = extensions.get::<crate::access_log::ErrorCodes>() {
        return Some(codes.0.clone());
    }
    match status {
        401 => Some("UNAUTHENTICATED".into()),
        429 => Some("RATE_LIMITED".into()),
        503 => Some("UNAVAILABLE".into()),
        404 => Some("NOT_FOUND".into()),
        500..=599 => Some("INTERNAL_SERVER_ERROR".into()),
        400..=499 => Some("BAD_REQUEST".into()),
        _ => None,
    }
}

/// Gives each request an id (echoed in `x-request-id`) and a span, and counts it.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trust_proxy = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config.rate_limit.trust_forwarded_for);
    let request_id = request_id_of(&req, trust_proxy);
    let path = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let span = tracing::info_span!("request", %request_id, %method, %path);
    actix_web::HttpMessage::extensions_mut(&req).insert(crate::graphql::request::RequestId(request_id.clone()));
    let started = Instant::now();
    let access_log = req.app_data::<web::Data<AppState>>().map(|state| state.access_log.clone());
    let client_ip = req.connection_info().realip_remote_addr().map(str::to_owned);
    let mut res = tracing::Instrument::instrument(next.call(req), span.clone()).await?;
    // probes and scrapes are not accesses to the lab's data
    if let Some(log) = access_log.filter(|_| !matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics")) {
        let extensions = actix_web::HttpMessage::extensions(res.request());
        let caller = extensions.get::<crate::access_log::LoggedCaller>();
        log.record(carnet_store::access_log::AccessRecord {
            at: chrono::Utc::now(),
            request_id: request_id.clone(),
            issuer: caller.map(|c| c.issuer.clone()),
            subject: caller.map(|c| c.subject.clone()),
            client_ip,
            method: method.clone(),
            path: path.clone(),
            operation: extensions.get::<crate::access_log::Operation>().map(|o| o.0.clone()),
            status: res.status().as_u16(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            error_codes: error_codes_of(&extensions, res.status().as_u16()),
        });
    }
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("path", path), ("status", status)];
    metrics::counter!(crate::telemetry::metric::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(crate::telemetry::metric::HTTP_REQUEST_DURATION, &labels)
        .record(started.elapsed().as_secs_f64());
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(actix_web::http::header::HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}
