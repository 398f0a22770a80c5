//! The log's public transparency endpoints: what witnesses and auditors fetch without a token.
//! They show sizes and hashes, nothing of the events.
//!
//! - `GET /checkpoint` — the latest signed checkpoint (C2SP signed note, `text/plain`) with the
//!   witnesses' cosignatures it has; `?size=N` the checkpoint of exactly `N` events. 404 before
//!   the first one, or when no checkpoint of that size was issued.
//! - `GET /checkpoint/key` — the public key checkpoints verify with.
//! - `GET /checkpoint/consistency?from=M&to=N` — the RFC 9162 consistency proof between the
//!   trees of `M` and `N` events, one base64 hash per line (as C2SP tlog-witness writes them).
//! - `POST /checkpoint/cosignature` — a witness hands back the checkpoint it cosigned (the
//!   note with its cosignature line); it is kept when the log's signature, the stored checkpoint
//!   and a configured witness's cosignature all verify (`carnet_lab::checkpoints::receive_cosignature`).
//!   200 with the witnesses kept; 400 not this log's, 404 no such checkpoint, 409 another root
//!   (the witness saw another history), 403 no configured witness cosigned it.

use crate::startup::AppState;
use actix_web::{HttpResponse, web};
use base64::Engine;
use carnet_lab::checkpoints::{self, CosignatureRefused};
use carnet_store::StoreError;
use carnet_store::integrity::checkpoint;

fn text(status: actix_web::http::StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body.into())
}

fn unavailable(what: &str, e: &StoreError) -> HttpResponse {
    tracing::error!(error = %e, "cannot read {what}");
    text(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, format!("cannot read {what}"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeQuery {
    size: Option<u64>,
}

pub async fn checkpoint(state: web::Data<AppState>, query: web::Query<SizeQuery>) -> HttpResponse {
    let found = match query.size {
        Some(size) => checkpoint::of_size(&state.store, size).await,
        None => checkpoint::latest(&state.store).await,
    };
    let stored = match found {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            let why = match query.size {
                Some(size) => format!("no checkpoint of {size} events was issued"),
                None => "no checkpoint issued yet".to_owned(),
            };
            return text(actix_web::http::StatusCode::NOT_FOUND, why);
        }
        Err(e) => return unavailable("the checkpoint", &e),
    };
    match checkpoints::with_cosignatures(&state.store, &stored).await {
        Ok(note) => text(actix_web::http::StatusCode::OK, note),
        Err(e) => unavailable("the cosignatures", &e),
    }
}

/// The public key checkpoints verify with (`<origin>+<key id>+<base64>`); 404 when this server
/// issues no checkpoint. Auditors should get it from the lab by another way too, and compare.
pub async fn checkpoint_key(state: web::Data<AppState>) -> HttpResponse {
    match state.log_guard.remembered() {
        Some(remembered) => text(actix_web::http::StatusCode::OK, format!("{}\n", remembered.signer().verifier_key())),
        None => text(actix_web::http::StatusCode::NOT_FOUND, "this server issues no checkpoint"),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

pub async fn consistency(state: web::Data<AppState>, query: web::Query<ConsistencyQuery>) -> HttpResponse {
    match carnet_store::integrity::tree::consistency_proof(&state.store, query.from, query.to).await {
        Ok(proof) => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let lines: String = proof.iter().map(|h| format!("{}\n", b64.encode(h))).collect();
            text(actix_web::http::StatusCode::OK, lines)
        }
        Err(StoreError::InvalidInput { reason }) => text(actix_web::http::StatusCode::BAD_REQUEST, reason),
        Err(e) => unavailable("the log's tree", &e),
    }
}

pub async fn cosignature(state: web::Data<AppState>, body: String) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(remembered) = state.log_guard.remembered() else {
        return text(StatusCode::NOT_FOUND, "this server issues no checkpoint");
    };
    let log = remembered.signer().verifier();
    match checkpoints::receive_cosignature(&state.store, &log, &state.witnesses, &body).await {
        Ok(kept) => {
            let names: Vec<String> = kept.iter().map(|c| format!("{}\n", c.witness)).collect();
            text(StatusCode::OK, names.concat())
        }
        Err(refused) => {
            let status = match &refused {
                CosignatureRefused::NotThisLog(_) => StatusCode::BAD_REQUEST,
                CosignatureRefused::Unknown { .. } => StatusCode::NOT_FOUND,
                CosignatureRefused::OtherRoot { .. } => StatusCode::CONFLICT,
                CosignatureRefused::NoKnownWitness(_) => StatusCode::FORBIDDEN,
                CosignatureRefused::Store(e) => return unavailable("the checkpoints", e),
            };
            tracing::warn!(error = %refused, "cosignature refused");
            text(status, format!("{refused}\n"))
        }
    }
}
