//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket (DESIGN §5), speaking
//! `graphql-transport-ws` (and the legacy `graphql-ws` of subscriptions-transport-ws, for old
//! clients), chosen by `Sec-WebSocket-Protocol`; without the header, `graphql-transport-ws`.
//!
//! The protocol itself is async-graphql's ([`WebSocket`]); this module carries it over
//! `actix-ws` and adds what a public server needs around it (async-graphql-actix-web would
//! bring the actix actor framework and could not choose these close codes):
//! - **Authentication in `connection_init`**: the payload carries the token as
//!   `{"Authorization": "Bearer <jwt>"}` (or `authorization`, or `{"token": "<jwt>"}`), checked by
//!   the request pipeline HTTP goes through too (`graphql/request.rs`: the same
//!   [`Authenticator`], budgets, log lines and error bodies). Without a valid token the socket
//!   closes with **4403 Forbidden**, the code the protocol gives a refused `connection_init`
//!   (graphql-ws clients then retry, asking their `connectionParams` again). There are no anonymous connections.
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
//!   what a rate-limited client should do.
//! - **Every operation counts too**: each `subscribe` (`start` in the legacy protocol) spends one
//!   request of the connection's caller, the same budget as its HTTP requests. Over the budget,
//!   the operation is refused (a `next` whose error is `RATE_LIMITED` with `retryAfterSeconds`,
//!   then `complete`) and the connection stays open.
//! - **Caps** (`[websocket]` in the configuration, [`WebSocketConfig`]): at most
//!   `max_operations_per_connection` operations run at once on one connection, and
//!   `max_operations_per_caller` across all the connections of one caller (its identity) in this
//!   process. One more is refused as above with `TOO_MANY_OPERATIONS`; completing one frees its
//!   place. (Without them, one connection held 5 000 subscriptions, and one event sent 5 000
//!   messages.)
//! - **Roles follow the person** ([`LiveIdentity`]): a provider token's roles are its person's
//!   granted roles. When an event of that person passes the live feed (a role granted or
//!   revoked, an identity unlinked, an erasure; or when the feed lagged and events may have been
//!   missed), the connection authenticates its token again, within the feed's delay (a few
//!   milliseconds). Every running subscription then checks its access with the new identity:
//!   one that is no longer allowed ends with `ACCESS_REVOKED` (its `reason` says why:
//!   `ROLE_REVOKED`, `OUT_OF_TERRITORY` or `IDENTITY_REFUSED`), and once none is left running,
//!   the socket closes with **4403** ("Forbidden: access revoked"). Queries and mutations sent
//!   afterwards on the connection run with the new identity. Local HS256 tokens (`carnet
//!   token`) are not linked to a person: they carry their roles themselves, and `revokePersonRole`
//!   does not touch them; they are revoked by their expiry (`--hours`) or by replacing the
//!   server's secret file (every local token then fails, and a restart closes every
//!   connection).
//! - WebSocket pings every [`PING_EVERY`]; a client silent for [`CLIENT_TIMEOUT`] is dropped,
//!   so a vanished client does not keep its subscriptions.
//!
//! Every operation of a connection carries the request id of its upgrade request, in its
//! answers' errors and in the spans of its logs: `graphql_ws` (the connection),
//! `ws_connection_init`, `ws_operation` (each `subscribe`, with its id) and `graphql` (each query
//! or mutation, with its operation name, `graphql/request.rs`).

use crate::auth::Identity;
use crate::graphql::CarnetSchema;
use crate::graphql::error::{ApiError, OperationScope};
use crate::graphql::request::{Outcome, Pipeline, RequestId, Transport};
use crate::identity::Authenticator;
use crate::rate_limit::{BudgetKey, RateLimit};
use crate::startup::{AppState, BODY_LIMIT};
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError, Session};
use async_graphql::Data;
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use base64::Engine;
use carnet_lab::live::LiveEvent;
use carnet_store::StreamId;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;
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

/// `[websocket]` in `carnet.toml`: how many operations may run at once.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// Operations (subscriptions, and queries or mutations while they run) on one connection.
    pub max_operations_per_connection: usize,
    /// Operations across every connection of one caller (one identity) in this process.
    pub max_operations_per_caller: usize,
}

impl Default for WebSocketConfig {
    /// A screen follows a few projects and the activity feed: 100 per connection leaves room for
    /// any real page, 300 per caller for a few tabs, and bounds what one event costs.
    fn default() -> Self {
        Self { max_operations_per_connection: 100, max_operations_per_caller: 300 }
    }
}

/// The operations each caller runs now, across its connections (one table per process).
#[derive(Clone, Default)]
pub struct Operations(Arc<Mutex<HashMap<BudgetKey, usize>>>);

impl Operations {
    /// One more operation of `caller`, unless it already runs `max`.
    fn acquire(&self, caller: &BudgetKey, max: usize) -> bool {
        let mut counts = lock(&self.0);
        let count = counts.entry(caller.clone()).or_default();
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    fn release(&self, caller: &BudgetKey, n: usize) {
        let mut counts = lock(&self.0);
        if let Some(count) = counts.get_mut(caller) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                counts.remove(caller);
            }
        }
    }
}

/// The caller of a connection as it stands now: in the connection's data, read by every
/// operation instead of the identity `connection_init` found (see the module doc).
#[derive(Clone)]
pub struct LiveIdentity {
    current: watch::Receiver<Option<Identity>>,
    /// Operations ended because the identity changed.
    revoked: Arc<AtomicUsize>,
}

impl LiveIdentity {
    /// The identity now; `None` once the token no longer authenticates.
    pub fn current(&self) -> Option<Identity> {
        self.current.borrow().clone()
    }

    /// A receiver told of each change.
    pub fn watch(&self) -> watch::Receiver<Option<Identity>> {
        self.current.clone()
    }

    /// Records that an operation ended because of a change of identity.
    pub fn revoked(&self) {
        self.revoked.fetch_add(1, Ordering::SeqCst);
    }
}

/// Upgrades the request and serves the GraphQL protocol on it until either side closes.
pub async fn handle(
    req: HttpRequest,
    body: web::Payload,
    schema: web::Data<CarnetSchema>,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let request_id =
        req.extensions().get::<RequestId>().cloned().unwrap_or_else(|| RequestId(uuid::Uuid::now_v7().to_string()));
    let Some(protocol) = requested_protocol(&req) else {
        let message = "supported WebSocket subprotocols: graphql-transport-ws, graphql-ws";
        return Ok(HttpResponse::BadRequest().json(ApiError::BadRequest(message.into()).into_body(&request_id.0)));
    };
    let (response, session, messages) =
        actix_ws::handle_with_protocols(&req, body, &[protocol.sec_websocket_protocol()])?;
    let messages = messages.max_frame_size(BODY_LIMIT).aggregate_continuations().max_continuation_size(BODY_LIMIT);
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
        live: state.live.clone(),
        limits: state.config.websocket,
        operations: state.operations.clone(),
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
    address: BudgetKey,
    live: carnet_lab::live::LiveFeed,
    limits: WebSocketConfig,
    operations: Operations,
}

impl Connection {
    async fn serve(mut self, mut session: Session, messages: AggregatedMessageStream) {
        metrics::gauge!(crate::telemetry::metric::WS_CONNECTIONS).increment(1.0);
        let (identity, current) = watch::channel(None);
        let revoked = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared::new(identity));
        let live_identity = LiveIdentity { current, revoked: revoked.clone() };
        let reader = Reader {
            session: session.clone(),
            shared: shared.clone(),
            // 4409 is graphql-transport-ws's (the legacy protocol has no such code)
            refuse_duplicates: self.protocol == WebSocketProtocols::GraphQLWS,
            legacy: self.protocol == WebSocketProtocols::SubscriptionsTransportWS,
            rate_limit: self.rate_limit.clone(),
            limits: self.limits,
            operations: self.operations.clone(),
            request_id: self.request_id.0.clone(),
        };
        let input = client_messages(messages, reader);
        let mut data = Data::default();
        data.insert(self.request_id.clone());
        let init = Init::context(&self, &shared, live_identity);
        let graphql = WebSocket::new(self.schema.clone(), input, self.protocol)
            .connection_data(data)
            .on_connection_init(move |payload| connection_init(init, payload));
        let mut graphql = std::pin::pin!(graphql);
        let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
        let mut init_deadline = std::pin::pin!(init_deadline);
        let mut heartbeat = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let auth = self.auth.clone();
        let mut person_events = None;
        let close = loop {
            let init = shared.init();
            let expires_at = match init {
                Init::Accepted { expires_at } => expires_at,
                _ => None,
            };
            if person_events.is_none() {
                person_events = shared.person_events();
            }
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
                event = next_person_event(&mut person_events) => {
                    if event && reauthenticate(&auth, &shared).await && shared.running() == 0 {
                        tracing::info!("WebSocket closed: its token no longer authenticates");
                        break Some(reason(4403.into(), "Forbidden: access revoked"));
                    }
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
                        shared.sent(&text, &self.operations);
                        if session.text(text).await.is_err() {
                            break None;
                        }
                        if revoked.load(Ordering::SeqCst) > 0 && shared.running() == 0 {
                            tracing::info!("WebSocket closed: its access was revoked and no operation is left");
                            break Some(reason(4403.into(), "Forbidden: access revoked"));
                        }
                    }
                    Some(WsMessage::Close(code, message)) => break Some(protocol_close(code, message, &shared)),
                    None => break Some(shared.ended_by().unwrap_or_else(|| reason(CloseCode::Normal, ""))),
                },
            }
        };
        shared.release_all(&self.operations);
        if let Some(close) = close {
            tracing::debug!(code = ?close.code, "closing the WebSocket");
            let _ = session.close(Some(close)).await;
        }
        metrics::gauge!(crate::telemetry::metric::WS_CONNECTIONS).decrement(1.0);
    }
}

/// Authenticates the connection's token again (an event of its person passed): operations see
/// the new identity. Whether the token no longer authenticates at all.
async fn reauthenticate(auth: &Authenticator, shared: &Shared) -> bool {
    let Some(token) = shared.token() else { return false };
    match auth.authenticate(&token).await {
        Ok(identity) => {
            shared.identity.send_if_modified(|current| {
                let changed = current.as_ref() != Some(&identity);
                if changed {
                    tracing::info!(roles = ?identity.roles, "WebSocket caller's roles changed");
                    *current = Some(identity);
                }
                changed
            });
            false
        }
        // the directory could not be read: keep the identity, try again at the next event
        Err(e) if e.is_internal() => {
            tracing::error!(error = %e, "cannot authenticate a WebSocket caller again");
            false
        }
        Err(e) => {
            tracing::info!(reason = %e, "WebSocket caller no longer authenticates");
            shared.identity.send_replace(None);
            true
        }
    }
}

/// Whether the next event of the live feed is one of the person's (or may have been: the feed
/// lagged); waits forever without a person to follow.
async fn next_person_event(events: &mut Option<PersonEvents>) -> bool {
    let Some(PersonEvents { stream, events: receiver }) = events else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(event) => event.stream_id == *stream,
        Err(broadcast::error::RecvError::Lagged(_)) => true,
        Err(broadcast::error::RecvError::Closed) => {
            *events = None;
            false
        }
    }
}

/// The live feed, for the events of the connection's person.
struct PersonEvents {
    stream: StreamId,
    events: broadcast::Receiver<Arc<LiveEvent>>,
}

/// What the client reader needs to count and cap operations.
struct Reader {
    session: Session,
    shared: Arc<Shared>,
    refuse_duplicates: bool,
    legacy: bool,
    rate_limit: RateLimit,
    limits: WebSocketConfig,
    operations: Operations,
    request_id: String,
}

impl Reader {
    /// Whether the operation a `subscribe` (`start`) starts may run: within its caller's
    /// budget and the caps. A refusal is answered here, as a `next` carrying the error then
    /// `complete`, and the message goes no further.
    #[tracing::instrument(name = "ws_operation", skip_all, fields(request_id = %self.request_id, id = %id))]
    async fn admit(&mut self, id: &str) -> bool {
        let Some(caller) = self.shared.caller() else { return true };
        let (per_connection, per_caller) =
            (self.limits.max_operations_per_connection, self.limits.max_operations_per_caller);
        let refusal = match self.rate_limit.spend(&caller, Transport::WebSocket) {
            Err(limited) => Some(limited.error()),
            Ok(_) if self.shared.running() >= per_connection => {
                Some(ApiError::TooManyOperations { limit: per_connection, scope: OperationScope::Connection })
            }
            Ok(_) if !self.operations.acquire(&caller, per_caller) => {
                Some(ApiError::TooManyOperations { limit: per_caller, scope: OperationScope::Caller })
            }
            Ok(_) => None,
        };
        let Some(refusal) = refusal else {
            self.shared.start(id);
            return true;
        };
        let body = refusal.into_body(&self.request_id);
        tracing::info!(request_id = %self.request_id, code = %body.code(), "WebSocket operation refused");
        let next = if self.legacy { "data" } else { "next" };
        let refused = serde_json::json!({ "type": next, "id": id, "payload": body.to_json() });
        // a closed session shows at the next write of the connection
        let _ = self.session.text(refused.to_string()).await;
        let _ = self.session.text(serde_json::json!({ "type": "complete", "id": id }).to_string()).await;
        false
    }
}

/// The client's GraphQL messages (text or binary frames); pings are answered here, and the
/// stream ends with the client's close or a broken frame (the reason kept in `shared`). Each
/// operation the client starts is counted and capped here ([`Reader::admit`]).
fn client_messages(messages: AggregatedMessageStream, reader: Reader) -> impl futures::Stream<Item = web::Bytes> {
    futures::stream::unfold((messages, reader), move |(mut messages, mut reader)| async move {
        loop {
            let message = messages.recv().await?;
            let shared = reader.shared.clone();
            shared.heard();
            let bytes = match message {
                Ok(AggregatedMessage::Text(text)) => text.into_bytes(),
                Ok(AggregatedMessage::Binary(bytes)) => bytes,
                Ok(AggregatedMessage::Ping(bytes)) => {
                    // a closed session shows at the next write of the connection
                    let _ = reader.session.pong(&bytes).await;
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
            match Envelope::read(&bytes) {
                Some((kind, id)) if kind == "subscribe" || kind == "start" => {
                    if shared.is_running(&id) {
                        if reader.refuse_duplicates {
                            shared.end_with(reason(4409.into(), &format!("Subscriber for {id} already exists")));
                            return None;
                        }
                    } else if !reader.admit(&id).await {
                        continue;
                    }
                }
                Some((kind, id)) if kind == "complete" || kind == "stop" => shared.finish(&id, &reader.operations),
                _ => {}
            }
            return Some((bytes, (messages, reader)));
        }
    })
}

/// What `connection_init` needs of the connection.
struct InitContext {
    auth: Authenticator,
    shared: Arc<Shared>,
    request_id: String,
    live: carnet_lab::live::LiveFeed,
    identity: LiveIdentity,
    rate_limit: RateLimit,
    /// Whose budget a missing or refused token spends.
    address: BudgetKey,
}

impl Init {
    fn context(connection: &Connection, shared: &Arc<Shared>, identity: LiveIdentity) -> InitContext {
        InitContext {
            auth: connection.auth.clone(),
            shared: shared.clone(),
            request_id: connection.request_id.0.clone(),
            live: connection.live.clone(),
            identity,
            rate_limit: connection.rate_limit.clone(),
            address: connection.address.clone(),
        }
    }
}

/// `connection_init`, through the request pipeline (`graphql/request.rs`) like an HTTP
/// request: the identity of the token in the payload, or a refusal (4403); either way one
/// request of the caller's budget (the identity's, or the connection's address when the token is
/// missing or refused): over it, the connection closes with 1013 instead of being acknowledged
/// or refused (guessing tokens costs budget). The connection's data holds the identity and the
/// [`LiveIdentity`] that follows it.
#[tracing::instrument(name = "ws_connection_init", skip_all, fields(request_id = %init.request_id))]
async fn connection_init(init: InitContext, payload: serde_json::Value) -> async_graphql::Result<Data> {
    let InitContext { auth, shared, request_id, live, identity: live_identity, rate_limit, address } = init;
    let pipeline =
        Pipeline { auth: &auth, rate_limit: &rate_limit, transport: Transport::WebSocket, request_id: &request_id };
    let token = token(&payload);
    // listen before looking the person up: a change committed in between is then seen
    let events = live.subscribe();
    let admission = pipeline.admit(token, address.clone()).await;
    let outcome = match admission.outcome {
        // no anonymous connections, and a directory that cannot be read refuses the token (and
        // spends the address's budget, as a refused token does)
        Outcome::Failed(e) => {
            tracing::info!(%request_id, reason = %e, "token refused");
            match rate_limit.spend(&address, Transport::WebSocket) {
                Ok(admitted) => Outcome::Refused(admitted),
                Err(limited) => Outcome::Limited(limited),
            }
        }
        outcome => outcome,
    };
    match (outcome, admission.identity, token) {
        (Outcome::Limited(limited), ..) => {
            let retry_after = limited.retry_after_seconds();
            tracing::info!(retry_after, "WebSocket connection_init over the rate limit");
            shared.set_init(Init::Limited { retry_after });
            Err("Too many requests".into())
        }
        (Outcome::Admitted(_), Some(identity), Some(token)) => {
            shared.set_init(Init::Accepted { expires_at: expiry(token) });
            shared.accepted(token, &identity, events);
            let mut data = Data::default();
            data.insert(identity);
            data.insert(live_identity);
            Ok(data)
        }
        (_, _, None) => {
            tracing::info!(%request_id, "WebSocket connection without a token refused");
            shared.set_init(Init::Refused);
            Err("Forbidden".into())
        }
        _ => {
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
    /// The ids of the operations running (started, not completed yet).
    running: Mutex<HashSet<String>>,
    /// Once accepted: the token, whose budget it spends, and the feed of its person's events.
    accepted: Mutex<Option<Accepted>>,
    /// The connection's identity as it stands now (see [`LiveIdentity`]).
    identity: watch::Sender<Option<Identity>>,
}

struct Accepted {
    token: String,
    caller: BudgetKey,
    /// `None` for a token linked to no person (local tokens).
    person_events: Option<PersonEvents>,
}

/// What `Shared` reads of a protocol message: its type and operation id.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

impl Envelope<'_> {
    /// The type and id of a message that has both; anything else (not JSON…) is
    /// async-graphql's to judge.
    fn read(message: &[u8]) -> Option<(String, String)> {
        let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_slice::<Envelope>(message) else { return None };
        Some((kind.into_owned(), id.into_owned()))
    }
}

/// The value behind `mutex`, even if a panicking holder poisoned it (plain data, always whole).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn new(identity: watch::Sender<Option<Identity>>) -> Self {
        Self {
            init: Mutex::default(),
            last_heard: Mutex::new(Instant::now()),
            ended_by: Mutex::default(),
            running: Mutex::default(),
            accepted: Mutex::default(),
            identity,
        }
    }
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
    /// The connection was accepted with `token`, of `identity`.
    fn accepted(&self, token: &str, identity: &Identity, events: broadcast::Receiver<Arc<LiveEvent>>) {
        let person_events = identity.person.map(|person| PersonEvents {
            stream: StreamId::new(<carnet_domain::person::Person as carnet_domain::Decider>::CATEGORY, person),
            events,
        });
        *lock(&self.accepted) =
            Some(Accepted { token: token.to_owned(), caller: BudgetKey::of(identity), person_events });
        self.identity.send_replace(Some(identity.clone()));
    }
    /// The caller of an accepted connection.
    fn caller(&self) -> Option<BudgetKey> {
        if !matches!(self.init(), Init::Accepted { .. }) {
            return None;
        }
        lock(&self.accepted).as_ref().map(|a| a.caller.clone())
    }
    fn token(&self) -> Option<String> {
        lock(&self.accepted).as_ref().map(|a| a.token.clone())
    }
    /// The feed of the person's events, for the connection loop to take once accepted.
    fn person_events(&self) -> Option<PersonEvents> {
        if !matches!(self.init(), Init::Accepted { .. }) {
            return None;
        }
        lock(&self.accepted).as_mut().and_then(|a| a.person_events.take())
    }
    fn running(&self) -> usize {
        lock(&self.running).len()
    }
    fn is_running(&self, id: &str) -> bool {
        lock(&self.running).contains(id)
    }
    /// Operation `id` was admitted.
    fn start(&self, id: &str) {
        lock(&self.running).insert(id.to_owned());
    }
    /// Operation `id` is over (the client stopped it, or the server completed it): its place is
    /// free.
    fn finish(&self, id: &str, operations: &Operations) {
        if lock(&self.running).remove(id)
            && let Some(caller) = self.caller()
        {
            operations.release(&caller, 1);
        }
    }
    /// The connection ends: every place it held is free.
    fn release_all(&self, operations: &Operations) {
        let n = std::mem::take(&mut *lock(&self.running)).len();
        if let Some(accepted) = lock(&self.accepted).as_ref() {
            operations.release(&accepted.caller, n);
        }
    }
    /// A server message: a `complete` or an `error` ends its operation.
    fn sent(&self, message: &str, operations: &Operations) {
        // `next` (`data`) messages, by far the most, are not parsed
        if message.starts_with(r#"{"type":"next""#) || message.starts_with(r#"{"type":"data""#) {
            return;
        }
        if let Some((kind, id)) = Envelope::read(message.as_bytes())
            && matches!(kind.as_str(), "complete" | "error")
        {
            self.finish(&id, operations);
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
        let verifier = crate::auth::TokenVerifier::from_secret(b"0123456789abcdef0123456789abcdef");
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
