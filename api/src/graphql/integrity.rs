//! `integrity`: the auditors' check that the log was not altered (DESIGN §3.3) — every stream's
//! hash chain and every global seal recomputed, the log's extent and the read models' backing
//! (`carnet_lab::log_check::verify`, the very check `carnet verify` runs), answered as GraphQL.
//! `AUDITOR` and `ADMIN` only. It also says which witnesses cosigned which checkpoint.
//!
//! It reads the whole log: seconds for hundreds of thousands of events (see BENCHMARKS.md).

use super::access;
use super::error::ApiError;
use async_graphql::{Context, Object, SimpleObject};
use carnet_domain::person::Role;
use carnet_store::integrity::{RecordedSeal, Report};

#[derive(Default)]
pub struct IntegrityQuery;

/// What a verification found.
#[derive(SimpleObject)]
pub struct Integrity {
    /// Every chain and every seal verifies (and every recorded seal is the stored one).
    intact: bool,
    /// Events, streams and seals checked (up to the breach, if any).
    events: u64,
    streams: u64,
    seals: u64,
    /// Events after the last seal: chained, not yet sealed.
    unsealed_events: u64,
    /// The latest seal: its hash is what an auditor keeps outside the database, and gives back
    /// in `recordedSeals` next time.
    last_seal: Option<IntegritySeal>,
    /// The first place where the log does not verify, in reading order.
    breach: Option<Breach>,
    /// For each witness that cosigned a checkpoint, the largest one (`carnet witness`).
    witnesses: Vec<WitnessCosignature>,
}

/// A witness's latest cosignature of the log's checkpoints.
#[derive(SimpleObject)]
pub struct WitnessCosignature {
    /// The witness's name, as in its key.
    witness: String,
    /// Its key id, 8 hex digits.
    key_id: String,
    /// The size of the largest checkpoint it cosigned: it vouched that the log's first
    /// `treeSize` events are those of that checkpoint, and that the log only grew up to it.
    tree_size: u64,
    /// When it cosigned, by its own clock.
    cosigned_at: chrono::DateTime<chrono::Utc>,
    /// Whether the stored cosignature verifies now with the configured key of that witness
    /// (`[checkpoints] witnesses`) over the stored checkpoint; `false` for a cosignature by a
    /// witness no longer configured, or a row written behind the server's back.
    verified: bool,
}

#[derive(SimpleObject)]
pub struct IntegritySeal {
    number: i64,
    /// Lowercase hex SHA-256.
    hash: String,
    last_global_position: i64,
    sealed_at: String,
}

/// Where and how the log breaks.
#[derive(SimpleObject)]
pub struct Breach {
    /// The event where it breaks; `null` when only a seal can tell.
    global_position: Option<i64>,
    stream_id: Option<String>,
    stream_version: Option<u64>,
    /// The seal concerned, for a sealed range or the seals themselves.
    seal_number: Option<i64>,
    /// e.g. `HashMismatch`, `BrokenLink`, `MissingVersion`, `SealMismatch`.
    kind: String,
    /// In words.
    message: String,
    /// Events found intact before it.
    events_checked: u64,
}

#[Object]
impl IntegrityQuery {
    /// Recomputes every hash chain and every seal of the log. `recordedSeals`: seals as an
    /// auditor recorded them earlier (`NUMBER:HEX`, as `carnet verify` prints them); one that
    /// differs from the stored seal means the log was rewritten up to it.
    async fn integrity(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] recorded_seals: Vec<String>,
    ) -> async_graphql::Result<Integrity> {
        let caller = access::authenticated(ctx)?;
        caller.require(&[Role::Auditor, Role::Admin])?;
        let recorded =
            recorded_seals.iter().map(|s| s.parse::<RecordedSeal>()).collect::<Result<Vec<_>, _>>().map_err(|_| {
                caller.fail(ApiError::BadUserInput(
                    "recordedSeals : « NUMÉRO:EMPREINTE » (64 chiffres hexadécimaux)".into(),
                    "integrity.recorded_seal",
                ))
            })?;
        let report =
            carnet_lab::log_check::verify(&caller.state.store, &recorded, caller.state.log_guard.remembered(), |_| {})
                .await
                .map_err(|e| caller.fail(e))?;
        let witnesses = carnet_lab::checkpoints::witnessed(&caller.state.store, &caller.state.witnesses)
            .await
            .map_err(|e| caller.fail(e))?
            .into_iter()
            .map(|w| WitnessCosignature {
                witness: w.witness,
                key_id: format!("{:08x}", w.key_id),
                tree_size: w.tree_size,
                cosigned_at: chrono::DateTime::from_timestamp(w.time.min(i64::MAX as u64) as i64, 0)
                    .unwrap_or_default(),
                verified: w.verified,
            })
            .collect();
        Ok(match report {
            Report::Intact(s) => Integrity {
                intact: true,
                events: s.events,
                streams: s.streams,
                seals: s.seals,
                unsealed_events: s.unsealed_events,
                last_seal: s.last_seal.map(|l| IntegritySeal {
                    number: l.seal_number,
                    hash: l.hash,
                    last_global_position: l.last_global_position,
                    sealed_at: l.sealed_at,
                }),
                breach: None,
                witnesses,
            },
            Report::Broken(b) => Integrity {
                intact: false,
                events: b.events_checked,
                streams: 0,
                seals: 0,
                unsealed_events: 0,
                last_seal: None,
                breach: Some(Breach {
                    global_position: b.global_position,
                    stream_id: b.stream_id.clone(),
                    stream_version: b.stream_version,
                    seal_number: b.seal.as_ref().map(|s| s.seal_number),
                    kind: format!("{:?}", b.kind).split([' ', '{', '(']).next().unwrap_or_default().to_owned(),
                    message: b.kind.to_string(),
                    events_checked: b.events_checked,
                }),
                witnesses,
            },
        })
    }
}
