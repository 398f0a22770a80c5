//! One error type for the GraphQL layer, mapped to a stable `extensions.code` (DESIGN §5).
//! The domain rejects, the store fails, the API maps each to one code. Internal failures are
//! logged with their whole cause chain; the client gets an opaque message and a request id.
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
            Self::Busy => "RATE_LIMITED",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// An unexpected failure: [`Self::Unavailable`] when it comes from an unreachable
    /// database, [`Self::Internal`] otherwise.
    pub fn internal(source: Box<dyn std::error::Error + Send + Sync>) -> Self {
        if StoreError::is_unavailable(source.as_ref()) { Self::Unavailable(source) } else { Self::Internal(source) }
    }

    /// The GraphQL error for this failure; `request_id` names the request in the logs.
    pub fn into_graphql(self, request_id: &str) -> async_graphql::Error {
        let this = match self {
            Self::Internal(source) => Self::internal(source),
            other => other,
        };
        this.into_graphql_as_is(request_id)
    }

    fn into_graphql_as_is(self, request_id: &str) -> async_graphql::Error {
        if let Self::Unavailable(source) = &self {
            tracing::warn!(%request_id, error = %source, "database unavailable");
        }
        if let Self::Internal(source) = &self {
            let mut chain = source.to_string();
            let mut cause = source.source();
            while let Some(c) = cause {
                chain.push_str(": ");
                chain.push_str(&c.to_string());
                cause = c.source();
            }
            tracing::error!(%request_id, error = %chain, "internal error");
        }
        let code = self.code();
        self.extend_with(|_, ext| {
            ext.set("code", code);
            ext.set("requestId", request_id);
            match &self {
                Self::BadUserInput(_, rule) | Self::InvalidTransition(_, rule) => ext.set("rule", *rule),
                Self::Conflict { current_version } => ext.set("currentVersion", *current_version),
                Self::Unavailable(_) => ext.set("retryAfterSeconds", RETRY_AFTER_SECONDS),
                Self::AccessRevoked(why) => ext.set("reason", why.code()),
                Self::Busy => {
                    ext.set("reason", "BUSY");
                    ext.set("retryAfterSeconds", 1);
                }
                _ => {}
            }
        })
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
}
