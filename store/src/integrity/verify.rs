//! Verification: one pass over the log in reading order, recomputing every hash, checking each
//! stream's chain, every seal and the seals an auditor recorded (see [`crate::integrity`]).

use super::*;
use crate::any::on_pool;

/// Where a verification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub checked: u64,
    /// Events in the log when the verification started.
    pub total: u64,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// Every chain and every seal verifies.
    Intact(Summary),
    /// The first broken place, in reading order.
    Broken(Breach),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub streams: u64,
    pub seals: u64,
    /// Events after the last seal: chained, not yet sealed.
    pub unsealed_events: u64,
    /// The latest seal: what an auditor records outside the database.
    pub last_seal: Option<SealSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealSummary {
    pub seal_number: i64,
    /// Lowercase hex.
    pub hash: String,
    pub last_global_position: i64,
    pub sealed_at: String,
}

/// The first place where the log does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// The event where it breaks; `None` when only a seal can tell (see `seal`).
    pub global_position: Option<i64>,
    pub stream_id: Option<String>,
    pub stream_version: Option<u64>,
    /// The seal concerned, for breaches of a sealed range or of the seals themselves.
    pub seal: Option<SealRange>,
    pub kind: BreachKind,
    /// Events found intact before this place.
    pub events_checked: u64,
}

/// The range of the log a seal covers: after `after` (excluded; `None` from the start) up to
/// and including `last`, in reading order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealRange {
    pub seal_number: i64,
    pub after: Option<Checkpoint>,
    pub last: Checkpoint,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreachKind {
    /// The recipe over the stored fields does not give the stored hash: a field (payload,
    /// metadata, type, position…) or the hash was changed, or the event was forged.
    HashMismatch { stored: String, computed: String },
    /// `hash` or `prev_hash` is null.
    MissingHash,
    /// `prev_hash` is not the hash of the stream's previous version.
    BrokenLink { expected: String, found: String },
    /// The stream jumps from `expected - 1` to this version: events were deleted.
    MissingVersion { expected: u64 },
    /// The stream's version goes back (after `after`): events moved or duplicated.
    VersionOutOfOrder { after: u64 },
    /// A sealed range holds more events than its seal covers (`global_position` names the
    /// event when it was recorded after the seal was written, so cannot belong to it).
    UnexpectedEvents { expected: u64, found: u64 },
    /// A sealed range holds fewer events than its seal covers: events were deleted.
    MissingSealedEvents { expected: u64, found: u64 },
    /// The seal's hash does not match the events of its range (same count): a seal edited,
    /// events reordered or replaced.
    SealMismatch { stored: String, computed: String },
    /// The seals do not chain: a seal deleted, inserted or edited (`prev_hash`, number, range).
    BrokenSealChain { reason: String },
    /// A seal hash the auditor recorded earlier ([`verify_against`]) is not the stored one (or
    /// the seal is gone): the log up to it was rewritten, whatever else verifies.
    RecordedSealDiffers { recorded: String, stored: Option<String> },
    /// The log ends before `seen`, the furthest global position it was seen to reach
    /// ([`crate::extent`]): its newest events were deleted, or it was emptied.
    LogCut { seen: i64, last: Option<i64> },
    /// A read model holds the breach's stream at its version, which the log does not have: the
    /// log lost events the read models were built from (emptied, cut, or another database's
    /// read models).
    ReadModelAhead { read_model: String },
    /// The log does not hold the tree of a checkpoint it signed (one this server remembers
    /// issuing, or one an auditor or a witness kept): shorter, or another history.
    CheckpointDiffers { reason: String },
}

impl fmt::Display for BreachKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch { stored, computed } => {
                write!(f, "content or hash altered: stored hash {stored}, recomputed {computed}")
            }
            Self::MissingHash => write!(f, "the event has no hash"),
            Self::BrokenLink { expected, found } => {
                write!(f, "broken chain link: prev_hash {found}, the previous version's hash is {expected}")
            }
            Self::MissingVersion { expected } => {
                write!(f, "missing version {expected}: an event was deleted")
            }
            Self::VersionOutOfOrder { after } => write!(f, "version out of order, after version {after}"),
            Self::UnexpectedEvents { expected, found } => {
                write!(f, "unexpected event in a sealed range: the seal covers {expected} events, {found} found")
            }
            Self::MissingSealedEvents { expected, found } => {
                write!(f, "events missing from a sealed range: the seal covers {expected} events, {found} found")
            }
            Self::SealMismatch { stored, computed } => {
                write!(f, "seal mismatch: stored hash {stored}, recomputed {computed}")
            }
            Self::BrokenSealChain { reason } => write!(f, "broken chain of seals: {reason}"),
            Self::RecordedSealDiffers { recorded, stored: Some(stored) } => {
                write!(f, "the seal's hash is {stored}, not {recorded} as recorded: the log was rewritten")
            }
            Self::RecordedSealDiffers { recorded, stored: None } => {
                write!(f, "the seal recorded with hash {recorded} is gone: the log was rewritten")
            }
            Self::LogCut { seen, last: Some(last) } => write!(
                f,
                "the log ends at global position {last}, but it was seen to reach {seen}: its newest events were deleted"
            ),
            Self::LogCut { seen, last: None } => {
                write!(f, "the log is empty, but it was seen to reach global position {seen}: it was emptied")
            }
            Self::CheckpointDiffers { reason } => write!(f, "{reason}"),
            Self::ReadModelAhead { read_model } => write!(
                f,
                "the read model `{read_model}` holds this version, which the log does not have: events the read \
                 models were built from are missing"
            ),
        }
    }
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.global_position, &self.stream_id, self.stream_version) {
            (Some(p), Some(s), Some(v)) => write!(f, "global position {p} (stream {s}, version {v}): ")?,
            (Some(p), _, _) => write!(f, "global position {p}: ")?,
            _ => {}
        }
        if let Some(seal) = &self.seal {
            let after =
                seal.after.map_or("the start of the log".to_owned(), |c| format!("position {}", c.global_position));
            write!(f, "seal {} (after {after}, up to position {}): ", seal.seal_number, seal.last.global_position)?;
        }
        write!(f, "{}", self.kind)
    }
}

/// The pass over the log: per-stream heads, and the seal whose range is being read.
struct LogWalk {
    seals: Vec<Seal>,
    /// Index in `seals` of the seal whose range is being read (`seals.len()`: past them all).
    current: usize,
    hasher: Option<SealHasher>,
    /// The first event of the current range recorded after its seal was written.
    late: Option<(i64, String, u64)>,
    streams: HashMap<String, (u64, Hash)>,
    events: u64,
    unsealed: u64,
}

impl LogWalk {
    fn new(seals: Vec<Seal>) -> Result<Self, Box<Breach>> {
        let mut v =
            Self { seals, current: 0, hasher: None, late: None, streams: HashMap::new(), events: 0, unsealed: 0 };
        v.open_seal()?;
        Ok(v)
    }

    fn range(&self, i: usize) -> SealRange {
        SealRange {
            seal_number: self.seals[i].seal_number,
            after: i.checked_sub(1).map(|p| self.seals[p].last),
            last: self.seals[i].last,
        }
    }

    fn seal_breach(&self, kind: BreachKind) -> Box<Breach> {
        Box::new(Breach {
            global_position: None,
            stream_id: None,
            stream_version: None,
            seal: Some(self.range(self.current)),
            kind,
            events_checked: self.events,
        })
    }

    /// Starts reading the range of `seals[current]`, checking that it chains to the one before.
    fn open_seal(&mut self) -> Result<(), Box<Breach>> {
        let Some(seal) = self.seals.get(self.current) else {
            self.hasher = None;
            return Ok(());
        };
        let (number, prev, after) = match self.current.checked_sub(1).map(|p| &self.seals[p]) {
            Some(p) => (p.seal_number + 1, p.hash, p.last),
            None => (1, ZERO_HASH, Checkpoint::START),
        };
        let reason = if seal.seal_number != number {
            Some(format!("seal {} follows seal {}", seal.seal_number, number - 1))
        } else if seal.prev_hash != prev {
            Some(format!("its prev_hash is {}, the previous seal's hash is {}", to_hex(&seal.prev_hash), to_hex(&prev)))
        } else if seal.last <= after {
            Some("its range ends before the previous seal's".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(self.seal_breach(BreachKind::BrokenSealChain { reason }));
        }
        self.hasher = Some(SealHasher::new(&seal.prev_hash));
        self.late = None;
        Ok(())
    }

    /// Ends the range of `seals[current]`: its events must be exactly those it sealed.
    fn close_seal(&mut self) -> Result<(), Box<Breach>> {
        let seal = &self.seals[self.current];
        let hasher = self.hasher.take().expect("a seal is open");
        let found = hasher.count();
        let computed = hasher.finish();
        if found != seal.event_count || computed != seal.hash {
            let expected = seal.event_count;
            let kind = if found > expected || (self.late.is_some() && computed != seal.hash) {
                BreachKind::UnexpectedEvents { expected, found }
            } else if found < expected {
                BreachKind::MissingSealedEvents { expected, found }
            } else {
                BreachKind::SealMismatch { stored: to_hex(&seal.hash), computed: to_hex(&computed) }
            };
            let mut breach = self.seal_breach(kind);
            if let Some((position, stream, version)) = self.late.take() {
                breach.global_position = Some(position);
                breach.stream_id = Some(stream);
                breach.stream_version = Some(version);
            }
            return Err(breach);
        }
        self.current += 1;
        self.open_seal()
    }

    fn event(&mut self, e: HashedEvent) -> Result<(), Box<Breach>> {
        let checkpoint = e.checkpoint();
        while self.current < self.seals.len() && checkpoint > self.seals[self.current].last {
            self.close_seal()?;
        }
        let breach = |kind: BreachKind, e: &HashedEvent, events: u64| {
            Box::new(Breach {
                global_position: Some(e.global_position),
                stream_id: Some(e.stream_id.clone()),
                stream_version: Some(e.stream_version),
                seal: None,
                kind,
                events_checked: events,
            })
        };
        let (Some(hash), Some(prev_hash)) = (e.hash, e.prev_hash) else {
            return Err(breach(BreachKind::MissingHash, &e, self.events));
        };
        let head = self.streams.get(&e.stream_id).copied();
        let (last_version, expected_prev) = head.unwrap_or((0, ZERO_HASH));
        if e.stream_version != last_version + 1 {
            let kind = if e.stream_version > last_version + 1 {
                BreachKind::MissingVersion { expected: last_version + 1 }
            } else {
                BreachKind::VersionOutOfOrder { after: last_version }
            };
            return Err(breach(kind, &e, self.events));
        }
        let computed = e.computed_hash();
        if computed != hash {
            let kind = BreachKind::HashMismatch { stored: to_hex(&hash), computed: to_hex(&computed) };
            return Err(breach(kind, &e, self.events));
        }
        if prev_hash != expected_prev {
            let kind = BreachKind::BrokenLink { expected: to_hex(&expected_prev), found: to_hex(&prev_hash) };
            return Err(breach(kind, &e, self.events));
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.add(&hash);
            if self.late.is_none() && e.recorded_at > self.seals[self.current].sealed_at {
                self.late = Some((e.global_position, e.stream_id.clone(), e.stream_version));
            }
        } else {
            self.unsealed += 1;
        }
        match head {
            Some(_) => {
                if let Some(entry) = self.streams.get_mut(&e.stream_id) {
                    *entry = (e.stream_version, hash);
                }
            }
            None => {
                self.streams.insert(e.stream_id, (e.stream_version, hash));
            }
        }
        self.events += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<Summary, Box<Breach>> {
        while self.current < self.seals.len() {
            self.close_seal()?;
        }
        let last_seal = self.seals.last().map(|s| SealSummary {
            seal_number: s.seal_number,
            hash: to_hex(&s.hash),
            last_global_position: s.last.global_position,
            sealed_at: s.sealed_at.clone(),
        });
        Ok(Summary {
            events: self.events,
            streams: self.streams.len() as u64,
            seals: self.seals.len() as u64,
            unsealed_events: self.unsealed,
            last_seal,
        })
    }
}

async fn count_events(store: &AnyStore) -> Result<u64, StoreError> {
    let n: i64 =
        on_pool!(store, reader pool => sqlx::query_scalar("select count(*) from events").fetch_one(pool).await?);
    Ok(n as u64)
}

/// Verifies the whole log: one pass in reading order recomputing every hash, checking each
/// stream's chain and every seal (see the module's documentation). `on_progress` is called every
/// few thousand events and at the end. `Err` only when the database cannot be read; a log that
/// does not verify is `Ok(Report::Broken(…))`.
pub async fn verify(store: &AnyStore, on_progress: impl FnMut(Progress) + Send) -> Result<Report, StoreError> {
    verify_against(store, &[], on_progress).await
}

/// A seal's number and hash as an auditor recorded them outside the database, e.g. from an
/// earlier `carnet verify`; parsed from `NUMBER:HEX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedSeal {
    pub seal_number: i64,
    pub hash: Hash,
}

impl std::str::FromStr for RecordedSeal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let invalid = || format!("{s}: expected NUMBER:HASH, the hash in 64 hex digits");
        let (number, hash) = s.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            seal_number: number.trim().parse().map_err(|_| invalid())?,
            hash: from_hex(hash).ok_or_else(invalid)?,
        })
    }
}

/// [`verify`], and also that each seal in `recorded` still has the hash the auditor recorded:
/// the defence against someone who rewrote the whole database, hashes and seals included.
pub async fn verify_against(
    store: &AnyStore,
    recorded: &[RecordedSeal],
    mut on_progress: impl FnMut(Progress) + Send,
) -> Result<Report, StoreError> {
    // seals first: every event a seal read had committed before it, so the pass below sees it
    let seals = seals(store).await?;
    for r in recorded {
        let stored = seals.iter().position(|s| s.seal_number == r.seal_number);
        if stored.is_none_or(|i| seals[i].hash != r.hash) {
            let seal = stored.map(|i| SealRange {
                seal_number: r.seal_number,
                after: i.checked_sub(1).map(|p| seals[p].last),
                last: seals[i].last,
            });
            return Ok(Report::Broken(Breach {
                global_position: None,
                stream_id: None,
                stream_version: None,
                seal,
                kind: BreachKind::RecordedSealDiffers {
                    recorded: format!("{}:{}", r.seal_number, to_hex(&r.hash)),
                    stored: stored.map(|i| to_hex(&seals[i].hash)),
                },
                events_checked: 0,
            }));
        }
    }
    let total = count_events(store).await?;
    let mut verifier = match LogWalk::new(seals) {
        Ok(v) => v,
        Err(breach) => return Ok(Report::Broken(*breach)),
    };
    let mut events = hashed_events(store, Checkpoint::START);
    while let Some(event) = events.try_next().await? {
        if let Err(breach) = verifier.event(event) {
            return Ok(Report::Broken(*breach));
        }
        if verifier.events % 4096 == 0 {
            on_progress(Progress { checked: verifier.events, total: total.max(verifier.events) });
        }
    }
    drop(events);
    let checked = verifier.events;
    let report = match verifier.finish() {
        Ok(summary) => Report::Intact(summary),
        Err(breach) => Report::Broken(*breach),
    };
    on_progress(Progress { checked, total: total.max(checked) });
    Ok(report)
}
