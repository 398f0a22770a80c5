//! One error type for every answer of the server, mapped to a stable `extensions.code`
//! (DESIGN §5). The domain rejects, the store fails, the server refuses, the API maps each to
//! one [`ApiError`] and its code. Internal failures are logged with their whole cause chain;
//! the client gets an opaque message and a request id.
//!
//! An `ApiError` reaches the client in one of two ways, with the same code, message and
//! extensions:
//! - from a resolver, as a GraphQL error ([`ApiError::into_graphql`]), that async-graphql puts
//!   in its response;
//! - from the server around GraphQL (a body that is not a GraphQL request, a refused token, a
//!   spent budget, an operation over the WebSocket caps), as an [`ErrorBody`]: the same
//!   `{"errors":[…]}` a GraphQL response has, built in this one place.
//!
//! A database that cannot be reached (connections refused or cut, the pool timed out:
//! [`StoreError::is_unavailable`] anywhere in the cause chain) is `UNAVAILABLE`, not internal:
//! nothing was written, and the same request may be sent again later. Over HTTP such an answer
//! is a 503 with `Retry-After` ([`http_status`], which the handlers call for every response),
//! and the error carries `retryAfterSeconds`.

use async_graphql::ErrorExtensions;
use carnet_domain::{Rejection, RejectionKind, ValueError};
use carnet_projections::ProjectionError;
use carnet_store::{CommandError, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadUserInput(String, &'static str),
    #[error("{0}")]
    InvalidTransition(String, &'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("authentification requise")]
    Unauthenticated,
    #[error("votre rôle ne permet pas cette opération")]
    Forbidden,
    /// A field outside the public catalogue, asked by a caller who reads only that.
    #[error("le champ {0} n'est pas public")]
    NotPublic(String),
    #[error("cette ressource a été modifiée entre-temps (version actuelle : {current_version})")]
    Conflict { current_version: u64 },
    /// A subscription fell too far behind the live feed and lost events: it ends, and the
    /// client subscribes again (and re-reads what it shows).
    #[error("abonnement interrompu : trop de retard sur le flux en direct, réabonnez-vous")]
    SubscriptionLagged,
    /// The database cannot be reached for now: retry later (HTTP 503 with `Retry-After`).
    #[error("service momentanément indisponible : la base de données ne répond pas, réessayez dans quelques secondes")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Too many folds of the log at once (`expensive.rs`): try again shortly.
    #[error("trop de requêtes coûteuses en cours : réessayez dans quelques secondes")]
    Busy,
    /// A running subscription that the caller's new rights no longer allow.
    #[error("abonnement interrompu : {}", .0.message())]
    AccessRevoked(Revocation),
    #[error("erreur interne")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A body that is not a GraphQL request (not JSON, too large, a mutation over GET…),
    /// refused before any GraphQL is read.
    #[error("{0}")]
    BadRequest(String),
    /// The caller's budget is spent (`rate_limit.rs`): nothing ran.
    #[error("trop de requêtes : réessayez dans {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    /// One WebSocket operation more than the caps allow (`ws.rs`).
    #[error("trop d'opérations en cours {} (au plus {limit}) : terminez-en une", .scope.within())]
    TooManyOperations { limit: usize, scope: OperationScope },
}

/// Where the WebSocket's operations are capped (`extensions.scope` of `TOO_MANY_OPERATIONS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationScope {
    /// The operations of one connection.
    Connection,
    /// The operations of one caller, across its connections.
    Caller,
}

impl OperationScope {
    fn code(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Caller => "caller",
        }
    }

    fn within(self) -> &'static str {
        match self {
            Self::Connection => "sur cette connexion",
            Self::Caller => "pour cet appelant",
        }
    }
}

/// How long a client is told to wait after `UNAVAILABLE` (seconds).
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// The HTTP status of a GraphQL response, and the `Retry-After` it comes with: 503 when an
/// error is `UNAVAILABLE`, 200 otherwise. The one place that maps error codes to statuses
/// for executed requests (401 and 429 are decided before execution).
pub fn http_status(response: &async_graphql::Response) -> (actix_web::http::StatusCode, Option<u64>) {
    let unavailable = response.errors.iter().any(|e| {
        e.extensions.as_ref().and_then(|x| x.get("code")).is_some_and(|c| *c == async_graphql::Value::from(UNAVAILABLE))
    });
    if unavailable {
        (actix_web::http::StatusCode::SERVICE_UNAVAILABLE, Some(RETRY_AFTER_SECONDS))
    } else {
        (actix_web::http::StatusCode::OK, None)
    }
}

/// The code of [`ApiError::Unavailable`].
pub const UNAVAILABLE: &str = "UNAVAILABLE";

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput(..) => "BAD_USER_INPUT",
            Self::InvalidTransition(..) => "INVALID_TRANSITION",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden | Self::NotPublic(_) => "FORBIDDEN",
            Self::Conflict { .. } => "CONFLICT",
            Self::SubscriptionLagged => "SUBSCRIPTION_LAGGED",
            Self::Unavailable(_) => UNAVAILABLE,
            Self::AccessRevoked(_) => "ACCESS_REVOKED",
            Self::Busy | Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::TooManyOperations { .. } => "TOO_MANY_OPERATIONS",
        }
    }

    /// What the error's extensions hold besides its code and the request id.
    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::BadUserInput(_, rule) | Self::InvalidTransition(_, rule) => vec![("rule", (*rule).into())],
            Self::Conflict { current_version } => vec![("currentVersion", (*current_version).into())],
            Self::Unavailable(_) => vec![("retryAfterSeconds", RETRY_AFTER_SECONDS.into())],
            Self::AccessRevoked(why) => vec![("reason", why.code().into())],
            Self::Busy => vec![("reason", "BUSY".into()), ("retryAfterSeconds", 1.into())],
            Self::RateLimited { retry_after_seconds } => vec![("retryAfterSeconds", (*retry_after_seconds).into())],
            Self::TooManyOperations { limit, scope } => {
                vec![("limit", (*limit).into()), ("scope", scope.code().into())]
            }
            _ => vec![],
        }
    }

    /// An internal error from an unreachable database is [`Self::Unavailable`]; the failure is
    /// logged with the request id (a warning when the database is down, the cause chain of an
    /// internal error).
    fn classified(self, request_id: &str) -> Self {
        let this = match self {
            Self::Internal(source) => Self::internal(source),
            other => other,
        };
        match &this {
            Self::Unavailable(source) => tracing::warn!(%request_id, error = %source, "database unavailable"),
            Self::Internal(source) => {
                let mut chain = source.to_string();
                let mut cause = source.source();
                while let Some(c) = cause {
                    chain.push_str(": ");
                    chain.push_str(&c.to_string());
                    cause = c.source();
                }
                tracing::error!(%request_id, error = %chain, "internal error");
            }
            _ => {}
        }
        this
    }

    /// An unexpected failure: [`Self::Unavailable`] when it comes from an unreachable
    /// database, [`Self::Internal`] otherwise.
    pub fn internal(source: Box<dyn std::error::Error + Send + Sync>) -> Self {
        if StoreError::is_unavailable(source.as_ref()) { Self::Unavailable(source) } else { Self::Internal(source) }
    }

    /// The GraphQL error for this failure; `request_id` names the request in the logs.
    pub fn into_graphql(self, request_id: &str) -> async_graphql::Error {
        let this = self.classified(request_id);
        let (code, details) = (this.code(), this.details());
        this.extend_with(|_, ext| {
            ext.set("code", code);
            ext.set("requestId", request_id);
            for (name, value) in details {
                ext.set(name, async_graphql::Value::from_json(value).unwrap_or_default());
            }
        })
    }

    /// The body that answers this failure outside GraphQL's execution (module docs).
    pub fn into_body(self, request_id: &str) -> ErrorBody {
        let this = self.classified(request_id);
        let mut extensions: BTreeMap<&'static str, serde_json::Value> = this.details().into_iter().collect();
        extensions.insert("code", this.code().into());
        extensions.insert("requestId", request_id.into());
        ErrorBody { errors: [BodyError { extensions, message: this.to_string() }] }
    }
}

/// The body of an error answer the server gives around GraphQL: `{"errors":[{"extensions":
/// {"code":…,"requestId":…,…},"message":…}]}`, the shape of a GraphQL response's errors, made by
/// [`ApiError::into_body`]. Its keys are in alphabetical order, as in every other HTTP answer
/// (those go through `serde_json::Value`, whose maps are sorted): the bytes do not depend on
/// which of the two made an answer.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBody {
    errors: [BodyError; 1],
}

#[derive(Clone, Debug, Serialize)]
struct BodyError {
    extensions: BTreeMap<&'static str, serde_json::Value>,
    message: String,
}

impl ErrorBody {
    /// The stable code of the error (for the logs).
    pub fn code(&self) -> &str {
        self.errors[0].extensions["code"].as_str().unwrap_or_default()
    }

    /// The body as JSON, for a WebSocket message's payload.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Why a subscription's access was revoked (`extensions.reason` of `ACCESS_REVOKED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The caller no longer holds a role that reads it.
    RoleRevoked,
    /// The entity is no longer within the caller's territory.
    OutOfTerritory,
    /// The token no longer authenticates (identity unlinked, person erased).
    IdentityRefused,
}

impl Revocation {
    pub fn code(self) -> &'static str {
        match self {
            Self::RoleRevoked => "ROLE_REVOKED",
            Self::OutOfTerritory => "OUT_OF_TERRITORY",
            Self::IdentityRefused => "IDENTITY_REFUSED",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::RoleRevoked => "votre rôle ne permet plus de suivre ceci",
            Self::OutOfTerritory => "ceci n'est plus dans votre territoire",
            Self::IdentityRefused => "votre identité n'est plus reconnue",
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        match r.kind {
            RejectionKind::InvalidInput => Self::BadUserInput(r.message, r.rule),
            RejectionKind::InvalidTransition => Self::InvalidTransition(r.message, r.rule),
            RejectionKind::NotFound => Self::NotFound(r.message),
        }
    }
}

impl From<ValueError> for ApiError {
    fn from(e: ValueError) -> Self {
        Self::BadUserInput(e.message, e.rule)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { current_version, .. } => Self::Conflict { current_version },
            StoreError::Refused { rule, reason } => Self::BadUserInput(reason, rule),
            StoreError::CommandReused { .. } => Self::BadUserInput(
                "clientMutationId : cet identifiant a déjà servi à une autre mutation (autre opération, autre \
                 entité ou autres valeurs) ; rien n'a été enregistré, utilisez un nouvel identifiant"
                    .into(),
                "clientMutationId.reused",
            ),
            other => Self::internal(Box::new(other)),
        }
    }
}

/// A failed read: what the caller got wrong (a filter out of range, a cursor that is not one)
/// is `BAD_USER_INPUT`; a read model's refusal keeps its rule; the rest is internal.
impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::InvalidArgument(message) => Self::BadUserInput(message, "filter"),
            ProjectionError::InvalidCursor(message) => Self::BadUserInput(message, "pagination"),
            other => other.into_store_error().into(),
        }
    }
}

impl From<carnet_lab::log_check::CheckError> for ApiError {
    fn from(e: carnet_lab::log_check::CheckError) -> Self {
        match e {
            carnet_lab::log_check::CheckError::Store(e) => e.into(),
            carnet_lab::log_check::CheckError::Projection(e) => e.into(),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Rejected(r) => r.into(),
            CommandError::Store(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_store::{ExpectedVersion, StreamId};

    fn code_of(e: ApiError) -> (String, async_graphql::Value) {
        let err = e.into_graphql("req-1");
        let ext = err.extensions.expect("extensions");
        let code = ext.get("code").map(|c| c.to_string()).unwrap_or_default();
        let extra = ext.get("currentVersion").or(ext.get("rule")).cloned().unwrap_or(async_graphql::Value::Null);
        assert_eq!(ext.get("requestId"), Some(&async_graphql::Value::from("req-1")));
        (code, extra)
    }

    #[test]
    fn each_layer_maps_to_one_stable_code() {
        let (code, rule) = code_of(Rejection::input("uai.check_letter", "lettre erronée").into());
        assert_eq!((code.as_str(), rule), ("\"BAD_USER_INPUT\"", "uai.check_letter".into()));
        let (code, _) = code_of(Rejection::transition("project.terminal", "fermé").into());
        assert_eq!(code, "\"INVALID_TRANSITION\"");
        let (code, _) = code_of(Rejection::not_found("project.not_found", "absent").into());
        assert_eq!(code, "\"NOT_FOUND\"");
        let conflict = StoreError::Conflict {
            stream_id: StreamId::parse("project-x").unwrap(),
            expected: ExpectedVersion::Exact(3),
            current_version: 4,
        };
        let (code, version) = code_of(conflict.into());
        assert_eq!((code.as_str(), version), ("\"CONFLICT\"", 4.into()));
        let reused = StoreError::CommandReused { command_id: uuid::Uuid::nil() };
        let (code, rule) = code_of(reused.into());
        assert_eq!((code.as_str(), rule), ("\"BAD_USER_INPUT\"", "clientMutationId.reused".into()));
        // an unreachable database, however deep in the cause chain, is UNAVAILABLE: 503
        let down = ProjectionError::Database(sqlx::Error::PoolTimedOut);
        let err = ApiError::from(down).into_graphql("req-1");
        let ext = err.extensions.clone().expect("extensions");
        assert_eq!(ext.get("code"), Some(&async_graphql::Value::from(UNAVAILABLE)));
        assert_eq!(ext.get("retryAfterSeconds"), Some(&async_graphql::Value::from(RETRY_AFTER_SECONDS)));
        let nested =
            ApiError::internal(Box::new(CommandError::Store(StoreError::Unavailable(sqlx::Error::PoolClosed))));
        assert_eq!(nested.code(), UNAVAILABLE);
        let response = async_graphql::Response::from_errors(vec![err.into_server_error(async_graphql::Pos::default())]);
        assert_eq!(http_status(&response), (actix_web::http::StatusCode::SERVICE_UNAVAILABLE, Some(5)));
        assert_eq!(http_status(&async_graphql::Response::default()).0, actix_web::http::StatusCode::OK);
        let internal = StoreError::InvalidInput { reason: "relation \"events\" does not exist".into() };
        let err = ApiError::from(internal).into_graphql("req-1");
        assert_eq!(err.message, "erreur interne", "never SQL text to the client");
    }

    /// The bodies the server built by hand before `ErrorBody` (as `serde_json::json!`, whose
    /// keys come out sorted): the same bytes.
    #[test]
    fn error_bodies_are_the_bytes_of_a_graphql_error() {
        use serde_json::json;
        let error = |message: &str, extensions: serde_json::Value| {
            json!({ "errors": [{ "message": message, "extensions": extensions }] }).to_string()
        };
        let cases = [
            (
                ApiError::BadRequest("illisible".into()),
                error("illisible", json!({ "code": "BAD_REQUEST", "requestId": "r" })),
            ),
            (
                ApiError::Unauthenticated,
                error("authentification requise", json!({ "code": "UNAUTHENTICATED", "requestId": "r" })),
            ),
            (
                ApiError::RateLimited { retry_after_seconds: 3 },
                error(
                    "trop de requêtes : réessayez dans 3 s",
                    json!({ "code": "RATE_LIMITED", "requestId": "r", "retryAfterSeconds": 3 }),
                ),
            ),
            (
                ApiError::TooManyOperations { limit: 100, scope: OperationScope::Connection },
                error(
                    "trop d'opérations en cours sur cette connexion (au plus 100) : terminez-en une",
                    json!({ "code": "TOO_MANY_OPERATIONS", "limit": 100, "scope": "connection", "requestId": "r" }),
                ),
            ),
            (
                ApiError::TooManyOperations { limit: 300, scope: OperationScope::Caller },
                error(
                    "trop d'opérations en cours pour cet appelant (au plus 300) : terminez-en une",
                    json!({ "code": "TOO_MANY_OPERATIONS", "limit": 300, "scope": "caller", "requestId": "r" }),
                ),
            ),
            (
                ApiError::internal(Box::new(StoreError::Unavailable(sqlx::Error::PoolTimedOut))),
                error(
                    "service momentanément indisponible : la base de données ne répond pas, réessayez dans quelques secondes",
                    json!({ "code": "UNAVAILABLE", "requestId": "r", "retryAfterSeconds": RETRY_AFTER_SECONDS }),
                ),
            ),
        ];
        for (api_error, expected) in cases {
            let body = api_error.into_body("r");
            assert_eq!(serde_json::to_string(&body).unwrap(), expected);
            assert_eq!(body.to_json().to_string(), expected);
        }
    }

    /// A GraphQL error and an error body of one `ApiError` carry the same extensions.
    #[test]
    fn a_graphql_error_and_a_body_say_the_same() {
        let graphql = ApiError::Busy.into_graphql("r").into_server_error(async_graphql::Pos::default());
        let body = ApiError::Busy.into_body("r").to_json();
        let extensions = serde_json::to_value(graphql.extensions).unwrap();
        assert_eq!(body["errors"][0]["extensions"], extensions);
        assert_eq!(body["errors"][0]["message"], graphql.message.as_str());
    }
}
