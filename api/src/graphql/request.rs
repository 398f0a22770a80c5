//! The request pipeline, one for both transports: an HTTP request (`POST`/`GET /graphql`, the
//! handlers of `mod.rs`) and a WebSocket connection and its operations (`ws.rs`) go through
//! the same steps, with the same codes, budgets, access-log rows and log lines:
//!
//! 1. **Authentication** ([`Pipeline::admit`]): the bearer token gives the caller's
//!    [`Identity`] (`identity.rs`), or it is refused, one answer whatever the reason (the
//!    reason goes to the log only, `token refused`), or the people directory cannot be read
//!    (the server's failure, not the token's: no budget is spent).
//! 2. **Rate limit** (also [`Pipeline::admit`]): one request of the caller's budget
//!    (`rate_limit.rs`), its identity's, or its address's without a token or with a refused
//!    one, so that guessing tokens costs budget like anything else. A refusal is counted in
//!    `carnet_rate_limited_total` by [`Transport`]. Each WebSocket operation spends one more
//!    ([`RateLimit::spend`]).
//! 3. **Access-log tagging** ([`tag_caller`], [`tag_operation`], [`tag_error_codes`]): what
//!    `routes::observe` records of an HTTP request. A WebSocket connection is one row, its
//!    upgrade's.
//! 4. **Error shaping** ([`with_codes`]): every error of a GraphQL answer gets its stable code
//!    and the request id, in French, and is logged (`error answered`); over HTTP the handler
//!    calls it, over WebSocket the [`Traced`] extension does. What the server refuses around
//!    GraphQL is an `ApiError` made into an `ErrorBody` (`error.rs`).
//!
//! The [`Traced`] extension opens the span of each operation (`graphql`, with the request id and
//! the operation's name), inside which every resolver, command and store call logs.

use super::french;
use crate::access_log::{ErrorCodes, LoggedCaller, Operation};
use crate::auth::{AuthError, Identity};
use crate::identity::Authenticator;
use crate::rate_limit::{Admitted, BudgetKey, Limited, RateLimit};
use actix_web::{HttpMessage, HttpRequest};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextSubscribe};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::sync::Arc;

/// The request id the observer gave this request (`routes::observe`); errors carry it to the
/// client, and every log line of the request names it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// How a request came: the `transport` label of the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Http,
    WebSocket,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::WebSocket => "ws",
        }
    }
}

/// Steps 1 and 2 for one request (HTTP) or one `connection_init` (WebSocket).
pub struct Pipeline<'a> {
    pub auth: &'a Authenticator,
    pub rate_limit: &'a RateLimit,
    pub transport: Transport,
    pub request_id: &'a str,
}

/// What [`Pipeline::admit`] decided.
pub struct Admission {
    /// The token's caller, when the token authenticates (even over its budget: the access log
    /// names who was refused).
    pub identity: Option<Identity>,
    pub outcome: Outcome,
}

pub enum Outcome {
    /// Within the caller's budget (anonymous without a token): go on.
    Admitted(Admitted),
    /// The token does not authenticate (within its address's budget): HTTP 401, WebSocket 4403.
    Refused(Admitted),
    /// Over the budget of the caller (its address's for a refused token): nothing runs; HTTP
    /// 429, WebSocket 1013.
    Limited(Limited),
    /// The people directory cannot be read: nothing was spent.
    Failed(AuthError),
}

impl Pipeline<'_> {
    /// Authenticates `token` (`None`: no token) and spends one request of the caller's budget:
    /// its identity's, or else `address`'s.
    #[tracing::instrument(name = "admit", skip_all, fields(transport = self.transport.label()))]
    pub async fn admit(&self, token: Option<&str>, address: BudgetKey) -> Admission {
        let identity = match token {
            None => None,
            Some(token) => match self.auth.authenticate(token).await {
                Ok(identity) => Some(identity),
                Err(e) if e.is_internal() => return Admission { identity: None, outcome: Outcome::Failed(e) },
                Err(e) => {
                    // one answer for every bad token; the reason goes to the log only
                    tracing::info!(request_id = %self.request_id, reason = %e, "token refused");
                    let outcome = match self.rate_limit.spend(&address, self.transport) {
                        Ok(admitted) => Outcome::Refused(admitted),
                        Err(limited) => Outcome::Limited(limited),
                    };
                    return Admission { identity: None, outcome };
                }
            },
        };
        let key = identity.as_ref().map_or(address, BudgetKey::of);
        let outcome = match self.rate_limit.spend(&key, self.transport) {
            Ok(admitted) => Outcome::Admitted(admitted),
            Err(limited) => Outcome::Limited(limited),
        };
        Admission { identity, outcome }
    }
}

/// Access log: who called (an HTTP request whose token authenticated).
pub fn tag_caller(req: &HttpRequest, identity: &Identity) {
    req.extensions_mut().insert(LoggedCaller { issuer: identity.issuer.clone(), subject: identity.sub.clone() });
}

/// Access log: the operation a request runs, its name or else its root fields (`projects,me`).
pub fn tag_operation(req: &HttpRequest, request: &async_graphql::Request) {
    req.extensions_mut().insert(Operation(operation_of(request)));
}

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

/// Access log: the distinct codes of `errors`, in order.
pub fn tag_error_codes(req: &HttpRequest, errors: &[async_graphql::ServerError]) {
    let mut codes: Vec<String> = vec![];
    for error in errors {
        if let Some(async_graphql::Value::String(code)) = error.extensions.as_ref().and_then(|x| x.get("code"))
            && !codes.contains(code)
        {
            codes.push(code.clone());
        }
    }
    if !codes.is_empty() {
        req.extensions_mut().insert(ErrorCodes(codes.join(",")));
    }
}

/// Whether an answer's errors hold `code`.
pub fn has_code(errors: &[async_graphql::ServerError], code: &str) -> bool {
    errors.iter().any(|e| {
        e.extensions.as_ref().and_then(|x| x.get("code")).is_some_and(|c| *c == async_graphql::Value::from(code))
    })
}

/// Gives every error a stable `extensions.code` (DESIGN §5) and the request id: resolvers set
/// theirs through `ApiError`; what async-graphql itself refuses before running anything (a
/// document that does not parse or validate, an unknown enum value, a limit of depth or
/// complexity) has no path and is `GRAPHQL_VALIDATION_FAILED`; an argument async-graphql cannot
/// read from the client's values (a required variable missing, a value of the wrong type) fails
/// at its field, with a path, and is `BAD_USER_INPUT`; anything else is internal, and its
/// message, which nothing vouches for, goes to the log and not to the client. async-graphql's
/// messages are put in French (french.rs).
///
/// Each error is logged with the request id, its code, its rule if any and its cause (the
/// original message), so that the `requestId` a user quotes finds its line (an internal error
/// also has the line of its whole cause chain, `error.rs`).
pub fn with_codes(errors: &mut [async_graphql::ServerError], request_id: &str) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        let cause = error.message.clone();
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
            if code != "INTERNAL_SERVER_ERROR" {
                error.message = french::translate(&error.message);
            }
            extensions.set("code", code);
        }
        if extensions.get("requestId").is_none() {
            extensions.set("requestId", request_id);
        }
        log_error_answered(request_id, error, &cause);
    }
}

/// The log line of an error a client is answered (see [`with_codes`]).
fn log_error_answered(request_id: &str, error: &async_graphql::ServerError, cause: &str) {
    let extension = |name: &str| match error.extensions.as_ref().and_then(|x| x.get(name)) {
        Some(async_graphql::Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let path = error
        .path
        .iter()
        .map(|segment| match segment {
            async_graphql::PathSegment::Field(name) => name.clone(),
            async_graphql::PathSegment::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".");
    tracing::info!(
        %request_id,
        code = %extension("code"),
        rule = %extension("rule"),
        %path,
        cause,
        "error answered"
    );
}

/// The messages of async-graphql 7's input coercion (`InputValueError`, `Context::var_value`):
/// the client's values do not fit the argument. Pinned by the black-box fuzz test, which fails
/// on any `INTERNAL_SERVER_ERROR`.
fn is_input_error(message: &str) -> bool {
    message.starts_with("Failed to parse \"")
        || message.starts_with("Expected input type \"")
        || message.starts_with("Variable ") && message.ends_with(" is not defined.")
}

/// The request id in a request's (or connection's) data.
fn request_id_of(ctx: &ExtensionContext<'_>) -> String {
    ctx.data_opt::<RequestId>().map(|r| r.0.clone()).unwrap_or_else(|| "unknown".into())
}

/// The schema extension of the pipeline inside async-graphql, on every transport: each
/// operation is marked as started (`negotiation::Execution`, for the HTTP status and the `data`
/// key) and runs in a `graphql` span (request id, operation name) that its resolvers' logs
/// carry; and every answer of a stream (WebSocket operations, subscriptions and queries alike,
/// their refusals before running included) goes through [`with_codes`]; the HTTP handler calls
/// it itself, with the request's id.
#[derive(Clone, Copy, Debug, Default)]
pub struct Traced;

impl ExtensionFactory for Traced {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Traced {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        if let Some(execution) = ctx.data_opt::<super::negotiation::Execution>() {
            execution.mark_started();
        }
        run_operation(request_id_of(ctx), ctx, operation_name, next).await
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, async_graphql::Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, async_graphql::Response> {
        let request_id = request_id_of(ctx);
        next.run(ctx, stream)
            .map(move |mut response| {
                with_codes(&mut response.errors, &request_id);
                response
            })
            .boxed()
    }
}

/// One GraphQL operation (a query or a mutation, over HTTP or WebSocket), in its span.
#[tracing::instrument(
    name = "graphql",
    skip_all,
    fields(%request_id, operation = operation_name.unwrap_or_default())
)]
async fn run_operation(
    request_id: String,
    ctx: &ExtensionContext<'_>,
    operation_name: Option<&str>,
    next: NextExecute<'_>,
) -> async_graphql::Response {
    next.run(ctx, operation_name).await
}
