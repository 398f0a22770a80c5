//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket (DESIGN §5), speaking
//! `graphql-transport-ws` (and the legacy `graphql-ws` of subscriptions-transport-ws, for old
//! clients), chosen by `Sec-WebSocket-Protocol`; without the header, `graphql-transport-ws`.
//!
//! The protocol itself is async-graphql's ([`WebSocket`]); this module carries it over
//! `actix-ws` and adds what a public server needs around it (async-graphql-actix-web would
//! bring the actix actor framework and could not choose these close codes):
//! - **Authentication in `connection_init`**: the payload carries the token as
//!   `{"Authorization": "Bearer <jwt>"}` (or `authorization`, or `{"token": "<jwt>"}`), checked by
//!   the same [`Authenticator`] as HTTP. Without a valid token the socket closes with **4403
//!   Forbidden**, the code the protocol gives a refused `connection_init` (graphql-ws clients
//!   then retry, asking their `connectionParams` again). There are no anonymous connections.
//!   When the token expires, the connection closes with 4403 as well: a subscription does not
//!   outlive the right to read it.
//! - The other codes of the protocol: 4400 for a message that is not one of it, 4401 for a
//!   `subscribe` before `connection_ack`, 4408 when no `connection_init` comes within
//!   [`INIT_TIMEOUT`], 4429 for a second `connection_init`, 4409 for a `subscribe` whose id is
//!   already running ("Subscriber for <id> already exists"); 1009 for a message larger than the
//!   HTTP body cap; 1001 when the server shuts down (reconnect to another instance).
//! - **Rate limit**: each `connection_init` counts as one request of its caller against the same
//!   budget as HTTP (`rate_limit.rs`): the token's identity, or the address when the token is
//!   refused. Over the budget the socket closes with **1013 Try Again Later** and the seconds to
//!   wait in the reason. Not 4429: the protocol gives it to a second `connection_init`, and
//!   graphql-ws clients treat it as fatal, while they retry 1013 with their backoff, which is
//!   what a rate-limited client should do. Messages on an open connection are not counted.
//! - WebSocket pings every [`PING_EVERY`]; a client silent for [`CLIENT_TIMEOUT`] is dropped,
//!   so a vanished client does not keep its subscriptions.
//!
//! Every operation of a connection carries the request id of its upgrade request.

use crate::graphql::{CarnetSchema, RequestId};
use crate::identity::Authenticator;
use crate::rate_limit::{Caller, RateLimit};
use crate::startup::{AppState, BODY_LIMIT};
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError, Session};
use async_graphql::Data;
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use base64::Engine;
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

/// How long a client has to send `connection_init` (graphql-ws clients send it at once).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings (keeps proxies from closing idle connections).
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// A client that sends nothing, not even a pong, for this long is gone.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// The verifier's leeway on `exp`: a token it accepted is not cut off sooner.
const EXPIRY_LEEWAY: Duration = Duration::from_secs(30);
/// Longest close reason a WebSocket close frame holds, in bytes.
const MAX_CLOSE_REASON: usize = 123;

/// Upgrades the request and serves the GraphQL protocol on it until either side closes.
pub async fn handle(
    req: HttpRequest,
    body: web::Payload,
    schema: web::Data<CarnetSchema>,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let Some(protocol) = requested_protocol(&req) else {
        return Ok(HttpResponse::BadRequest().json(serde_json::json!({ "errors": [{
            "message": "supported WebSocket subprotocols: graphql-transport-ws, graphql-ws",
            "extensions": { "code": "BAD_REQUEST" },
        }] })));
    };
    let (response, session, messages) =
        actix_ws::handle_with_protocols(&req, body, &[protocol.sec_websocket_protocol()])?;
    let messages = messages.max_frame_size(BODY_LIMIT).aggregate_continuations().max_continuation_size(BODY_LIMIT);
    let request_id =
        req.extensions().get::<RequestId>().cloned().unwrap_or_else(|| RequestId(uuid::Uuid::now_v7().to_string()));
    let span =
        tracing::info_span!("graphql_ws", request_id = %request_id.0, protocol = protocol.sec_websocket_protocol());
    let connection = Connection {
        schema: schema.get_ref().clone(),
        auth: state.auth.clone(),
        stopping: state.live.stopping(),
        request_id,
        protocol,
        rate_limit: state.rate_limit.clone(),
        address: state.rate_limit.address_of(&req),
    };
    actix_web::rt::spawn(connection.serve(session, messages).instrument(span));
    Ok(response)
}

/// The protocol the client asks for: the first one offered that we speak; `graphql-transport-ws`
/// when it names none; `None` when it offers only others.
fn requested_protocol(req: &HttpRequest) -> Option<WebSocketProtocols> {
    let mut offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .peekable();
    if offered.peek().is_none() {
        return Some(WebSocketProtocols::GraphQLWS);
    }
    offered.find_map(|p| p.parse().ok())
}

struct Connection {
    schema: CarnetSchema,
    auth: Authenticator,
    stopping: watch::Receiver<bool>,
    request_id: RequestId,
    protocol: WebSocketProtocols,
    rate_limit: RateLimit,
    /// Whose budget a refused `connection_init` spends.
    address: Caller,
}

impl Connection {
    async fn serve(mut self, mut session: Session, messages: AggregatedMessageStream) {
        metrics::gauge!("carnet_ws_connections").increment(1.0);
        let shared = Arc::new(Shared::default());
        // operation ids are tracked for 4409 in graphql-transport-ws only (the legacy protocol
        // has no such code)
        let track_ids = self.protocol == WebSocketProtocols::GraphQLWS;
        let input = client_messages(messages, session.clone(), shared.clone(), track_ids);
        let mut data = Data::default();
        data.insert(self.request_id.clone());
        let (auth, init, request_id) = (self.auth.clone(), shared.clone(), self.request_id.0.clone());
        let (limit, address, limited) = (self.rate_limit.clone(), self.address.clone(), shared.clone());
        let graphql =
            WebSocket::new(self.schema.clone(), input, self.protocol).connection_data(data).on_connection_init(
                move |payload| within_budget(authenticate(auth, payload, init, request_id), limit, address, limited),
            );
        let mut graphql = std::pin::pin!(graphql);
        let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
        let mut init_deadline = std::pin::pin!(init_deadline);
        let mut heartbeat = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let close = loop {
            let init = shared.init();
            let expires_at = match init {
                Init::Accepted { expires_at } => expires_at,
                _ => None,
            };
            tokio::select! {
                // a dropped sender means the application is gone: close as well
                _ = self.stopping.wait_for(|stopping| *stopping) => {
                    break Some(reason(CloseCode::Away, "server shutting down"));
                }
                _ = &mut init_deadline, if init == Init::Waiting => {
                    break Some(reason(4408.into(), "Connection initialisation timeout"));
                }
                _ = sleep_until(expires_at), if expires_at.is_some() => {
                    tracing::info!("WebSocket closed: the token expired");
                    break Some(reason(4403.into(), "Forbidden: token expired"));
                }
                _ = heartbeat.tick() => {
                    if shared.silent_for() > CLIENT_TIMEOUT {
                        tracing::info!("WebSocket client silent for too long: dropped");
                        break Some(reason(CloseCode::Away, "client timeout"));
                    }
                    if session.ping(b"").await.is_err() {
                        break None;
                    }
                }
                out = graphql.next() => match out {
                    Some(WsMessage::Text(text)) => {
                        shared.sent(&text);
                        if session.text(text).await.is_err() {
                            break None;
                        }
                    }
                    Some(WsMessage::Close(code, message)) => break Some(protocol_close(code, message, &shared)),
                    None => break Some(shared.ended_by().unwrap_or_else(|| reason(CloseCode::Normal, ""))),
                },
            }
        };
        if let Some(close) = close {
            tracing::debug!(code = ?close.code, "closing the WebSocket");
            let _ = session.close(Some(close)).await;
        }
        metrics::gauge!("carnet_ws_connections").decrement(1.0);
    }
}

/// The client's GraphQL messages (text or binary frames); pings are answered here, and the
/// stream ends with the client's close or a broken frame (the reason kept in `shared`).
fn client_messages(
    messages: AggregatedMessageStream,
    session: Session,
    shared: Arc<Shared>,
    track_ids: bool,
) -> impl futures::Stream<Item = web::Bytes> {
    futures::stream::unfold((messages, session, shared), move |(mut messages, mut session, shared)| async move {
        loop {
            let message = messages.recv().await?;
            shared.heard();
            let bytes = match message {
                Ok(AggregatedMessage::Text(text)) => text.into_bytes(),
                Ok(AggregatedMessage::Binary(bytes)) => bytes,
                Ok(AggregatedMessage::Ping(bytes)) => {
                    // a closed session shows at the next write of the connection
                    let _ = session.pong(&bytes).await;
                    continue;
                }
                Ok(AggregatedMessage::Pong(_)) => continue,
                Ok(AggregatedMessage::Close(_)) => return None,
                Err(e) => {
                    let code = match e {
                        ProtocolError::Overflow => CloseCode::Size,
                        _ => CloseCode::Protocol,
                    };
                    shared.end_with(reason(code, &e.to_string()));
                    return None;
                }
            };
            if track_ids && let Err(duplicate) = shared.received(&bytes) {
                shared.end_with(reason(4409.into(), &format!("Subscriber for {duplicate} already exists")));
                return None;
            }
            return Some((bytes, (messages, session, shared)));
        }
    })
}

/// Counts a `connection_init` against its caller's budget (the identity it authenticated, or
/// the connection's address when its token was refused): over the budget, the connection closes
/// with 1013 instead of being acknowledged (or refused with 4403: guessing tokens costs budget).
async fn within_budget(
    authenticated: impl Future<Output = async_graphql::Result<Data>>,
    limit: RateLimit,
    address: Caller,
    shared: Arc<Shared>,
) -> async_graphql::Result<Data> {
    let authenticated = authenticated.await;
    let caller = authenticated.as_ref().ok().and_then(Caller::in_data).unwrap_or(address);
    match limit.check(&caller) {
        Ok(_) => authenticated,
        Err(limited) => {
            metrics::counter!("carnet_rate_limited_total", "transport" => "ws").increment(1);
            let retry_after = limited.retry_after_seconds();
            tracing::info!(retry_after, "WebSocket connection_init over the rate limit");
            shared.set_init(Init::Limited { retry_after });
            Err("Too many requests".into())
        }
    }
}

/// `connection_init`: the identity of the token in the payload, or a refusal (4403).
async fn authenticate(
    auth: Authenticator,
    payload: serde_json::Value,
    shared: Arc<Shared>,
    request_id: String,
) -> async_graphql::Result<Data> {
    let Some(token) = token(&payload) else {
        tracing::info!(%request_id, "WebSocket connection without a token refused");
        shared.set_init(Init::Refused);
        return Err("Forbidden".into());
    };
    match auth.authenticate(token).await {
        Ok(identity) => {
            shared.set_init(Init::Accepted { expires_at: expiry(token) });
            let mut data = Data::default();
            data.insert(identity);
            Ok(data)
        }
        Err(e) => {
            // one answer for every bad token; the reason goes to the log only
            tracing::info!(%request_id, reason = %e, "WebSocket token refused");
            shared.set_init(Init::Refused);
            Err("Forbidden".into())
        }
    }
}

/// The token of a `connection_init` payload: `Authorization`/`authorization` (with or without
/// `Bearer `), or `token`.
fn token(payload: &serde_json::Value) -> Option<&str> {
    let field = |name: &str| payload.get(name).and_then(serde_json::Value::as_str);
    let raw = field("Authorization").or_else(|| field("authorization")).or_else(|| field("token"))?;
    let mut words = raw.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => Some(token),
        (Some(token), None, _) if !token.eq_ignore_ascii_case("bearer") => Some(token),
        _ => None,
    }
}

/// When a token the verifier accepted stops being valid (its `exp`, plus the verifier's leeway).
/// The signature is already checked: only the claim is read here.
fn expiry(token: &str) -> Option<Instant> {
    let claims = token.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    let left = claims.get("exp")?.as_i64()? - chrono::Utc::now().timestamp();
    Some(Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0)) + EXPIRY_LEEWAY)
}

/// async-graphql's close, in the codes of `graphql-transport-ws`.
fn protocol_close(code: u16, message: String, shared: &Shared) -> CloseReason {
    if let Some(refused) = shared.refused() {
        return refused;
    }
    match code {
        // async-graphql's code for a `subscribe` before `connection_ack`
        1011 => reason(4401.into(), "Unauthorized"),
        // and for a message it cannot parse
        1002 => reason(4400.into(), &message),
        other => reason(other.into(), &message),
    }
}

fn reason(code: CloseCode, description: &str) -> CloseReason {
    let mut end = description.len().min(MAX_CLOSE_REASON);
    while !description.is_char_boundary(end) {
        end -= 1;
    }
    CloseReason { code, description: Some(description[..end].to_owned()) }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Where `connection_init` stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Init {
    #[default]
    Waiting,
    Accepted {
        expires_at: Option<Instant>,
    },
    Refused,
    /// Over the caller's rate limit.
    Limited {
        retry_after: u64,
    },
}

/// What the connection loop, the client reader and `connection_init` tell each other.
struct Shared {
    init: Mutex<Init>,
    last_heard: Mutex<Instant>,
    ended_by: Mutex<Option<CloseReason>>,
    /// The ids of the operations running (subscribed, not completed yet).
    running: Mutex<HashSet<String>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            init: Mutex::default(),
            last_heard: Mutex::new(Instant::now()),
            ended_by: Mutex::default(),
            running: Mutex::default(),
        }
    }
}

/// What `Shared` reads of a protocol message: its type and operation id.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

/// The value behind `mutex`, even if a panicking holder poisoned it (plain data, always whole).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn init(&self) -> Init {
        *lock(&self.init)
    }
    fn set_init(&self, init: Init) {
        *lock(&self.init) = init;
    }
    fn heard(&self) {
        *lock(&self.last_heard) = Instant::now();
    }
    fn silent_for(&self) -> Duration {
        lock(&self.last_heard).elapsed()
    }
    fn end_with(&self, reason: CloseReason) {
        *lock(&self.ended_by) = Some(reason);
    }
    fn ended_by(&self) -> Option<CloseReason> {
        self.refused().or_else(|| lock(&self.ended_by).clone())
    }
    /// How a refused `connection_init` closes the connection.
    fn refused(&self) -> Option<CloseReason> {
        match self.init() {
            Init::Refused => Some(reason(4403.into(), "Forbidden")),
            Init::Limited { retry_after } => {
                Some(reason(CloseCode::Again, &format!("Too many requests: try again in {retry_after} s")))
            }
            _ => None,
        }
    }
    /// A client message: a `subscribe` starts its id, a `complete` ends it; `Err(id)` for a
    /// `subscribe` whose id is already running. Anything else (not JSON…) is async-graphql's.
    fn received(&self, message: &[u8]) -> Result<(), String> {
        let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_slice::<Envelope>(message) else { return Ok(()) };
        let mut running = lock(&self.running);
        match kind.as_ref() {
            "subscribe" if !running.insert(id.clone().into_owned()) => Err(id.into_owned()),
            "complete" => {
                running.remove(id.as_ref());
                Ok(())
            }
            _ => Ok(()),
        }
    }
    /// A server message: a `complete` or an `error` ends its operation.
    fn sent(&self, message: &str) {
        // `next` messages, by far the most, are not parsed
        if message.starts_with(r#"{"type":"next""#) {
            return;
        }
        if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str::<Envelope>(message)
            && matches!(kind.as_ref(), "complete" | "error")
        {
            lock(&self.running).remove(id.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_any_of_the_usual_fields() {
        for payload in [
            serde_json::json!({ "Authorization": "Bearer abc" }),
            serde_json::json!({ "authorization": "bearer abc" }),
            serde_json::json!({ "token": "abc" }),
            serde_json::json!({ "token": " Bearer abc " }),
        ] {
            assert_eq!(token(&payload), Some("abc"), "{payload}");
        }
        for payload in [
            serde_json::json!({}),
            serde_json::json!({ "token": "Bearer " }),
            serde_json::json!({ "token": "Basic a b" }),
            serde_json::json!(null),
        ] {
            assert_eq!(token(&payload), None, "{payload}");
        }
    }

    #[test]
    fn the_expiry_is_the_tokens_exp_plus_the_leeway() {
        let verifier = crate::auth::Verifier::from_secret(b"0123456789abcdef0123456789abcdef");
        let token = verifier.mint("alice", &[], &[], 1);
        let left = expiry(&token).expect("an exp").duration_since(Instant::now());
        assert!(left > Duration::from_secs(3600) && left <= Duration::from_secs(3600) + EXPIRY_LEEWAY, "{left:?}");
        assert_eq!(expiry("not a token"), None);
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let long = "é".repeat(100);
        let r = reason(CloseCode::Protocol, &long);
        assert!(r.description.as_ref().is_some_and(|d| d.len() <= MAX_CLOSE_REASON && d.starts_with('é')));
    }
}
