//! Typed events in and out of the log, with upcasting of old schema versions on read.
//!
//! Domain event enums serialize adjacently tagged (`{"type": …, "payload": …}`); the tag
//! becomes `event_type`, the content `payload`. On read, registered codec bring an old
//! `(event_type, schema_version)` payload up to the current shape before serde sees it.
//!
//! The codec also knows which fields are personal ([`PersonalFields`]) and, given master keys,
//! seals them on write and opens them on read with keys loaded beforehand: see
//! [`crate::personal_data`] for where and why.

use crate::error::StoreError;
use crate::model::{NewEvent, RecordedEvent};
use crate::personal_data::{MasterKeys, PersonKeys, PersonalFields, sealed_parts};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

type UpcastFn = Box<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

/// Registry of payload migrations, `(event_type, from_version) -> payload of from_version + 1`,
/// and of the personal fields, sealed with per-person keys when master keys are given.
#[derive(Default)]
pub struct Codec {
    steps: HashMap<(String, i32), UpcastFn>,
    personal: Option<PersonalFields>,
    master_keys: Option<Arc<MasterKeys>>,
}

impl Codec {
    /// A codec whose streams of `personal.category` hold personal data: those fields are
    /// sealed on write (given [`Self::with_master_keys`]; without, they are written in clear and
    /// sealed ones cannot be read: for tests and tools only), and such streams are never
    /// snapshotted. The application says which fields are personal (Carnet's policy lives with
    /// its events, in `carnet-lab`); the store knows none.
    pub fn with_personal_fields(mut self, personal: PersonalFields) -> Self {
        self.personal = Some(personal);
        self
    }

    /// Seals personal fields on write, and opens sealed ones on read, with these master keys.
    pub fn with_master_keys(mut self, keys: Arc<MasterKeys>) -> Self {
        self.master_keys = Some(keys);
        self
    }

    pub fn master_keys(&self) -> Option<&MasterKeys> {
        self.master_keys.as_deref()
    }

    /// Which fields are personal, if this codec knows.
    pub fn personal_fields(&self) -> Option<&PersonalFields> {
        self.personal.as_ref()
    }

    /// Whether streams of `category` hold personal data: never snapshotted (their state would
    /// hold it in clear).
    pub fn holds_personal_data(&self, category: &str) -> bool {
        self.personal.is_some_and(|p| p.category == category)
    }

    /// Registers how to turn a `from_version` payload of `event_type` into the next version.
    pub fn register(
        mut self,
        event_type: &str,
        from_version: i32,
        step: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.steps.insert((event_type.to_owned(), from_version), Box::new(step));
        self
    }

    /// The version new events of `event_type` are written at: one past the last upcaster.
    pub fn current_version(&self, event_type: &str) -> i32 {
        let mut v = 1;
        while self.steps.contains_key(&(event_type.to_owned(), v)) {
            v += 1;
        }
        v
    }

    fn upcast(&self, event_type: &str, mut version: i32, mut payload: Value) -> Result<Value, String> {
        while let Some(step) = self.steps.get(&(event_type.to_owned(), version)) {
            payload = step(payload).map_err(|e| format!("upcasting {event_type} v{version}: {e}"))?;
            version += 1;
        }
        Ok(payload)
    }

    /// Encodes a domain event for the log.
    pub fn encode<E: Serialize>(&self, event: &E) -> Result<NewEvent, StoreError> {
        let value = serde_json::to_value(event).map_err(StoreError::unexpected)?;
        let Value::Object(mut tagged) = value else {
            return Err(StoreError::unexpected("a domain event must serialize as {type, payload}"));
        };
        let event_type = match tagged.remove("type") {
            Some(Value::String(t)) => t,
            _ => return Err(StoreError::unexpected("a domain event must carry its type tag")),
        };
        let payload = tagged.remove("payload").unwrap_or(Value::Object(Default::default()));
        let mut new = NewEvent::new(event_type, payload);
        new.schema_version = self.current_version(&new.event_type);
        Ok(new)
    }

    /// Decodes a stored event, upcasting it first. An unknown type, a shape that does not fit
    /// or a schema version from the future is [`StoreError::Unreadable`], naming the event. An
    /// event with a sealed field needs its key: see [`Self::decode_with`].
    pub fn decode<E: DeserializeOwned>(&self, event: &RecordedEvent) -> Result<E, StoreError> {
        self.decode_with(event, &PersonKeys::none())
    }

    /// Decodes a stored event whose sealed field, if any, opens with `keys` (from
    /// [`Self::load_keys`]): a person whose key is gone (erased) gets `null` in its place. A
    /// sealed field whose key was not loaded, or does not open, is [`StoreError::Unreadable`].
    pub fn decode_with<E: DeserializeOwned>(&self, event: &RecordedEvent, keys: &PersonKeys) -> Result<E, StoreError> {
        let unreadable = |reason: String| StoreError::Unreadable {
            stream_id: event.stream_id.to_string(),
            stream_version: event.stream_version,
            global_position: event.global_position,
            reason,
        };
        let current = self.current_version(&event.event_type);
        if event.schema_version > current {
            return Err(unreadable(format!(
                "{} is at schema version {}, this build reads up to {current}",
                event.event_type, event.schema_version
            )));
        }
        let opened = self.open_payload(event, keys)?;
        let payload = self.upcast(&event.event_type, event.schema_version, opened).map_err(unreadable)?;
        let tagged = serde_json::json!({ "type": event.event_type, "payload": payload });
        serde_json::from_value(tagged).map_err(|e| unreadable(format!("{}: {e}", event.event_type)))
    }

    /// The stored payload of `event` (at its stored schema version) with its sealed field, if
    /// any, opened with `keys`: the clear value, or `null` when the person's key is gone. For
    /// showing an event as recorded (history); redacting what a caller may not see is the
    /// caller's business ([`PersonalFields::field_of`] names the field).
    pub fn open_payload(&self, event: &RecordedEvent, keys: &PersonKeys) -> Result<Value, StoreError> {
        let sealed = self.personal.as_ref().and_then(|personal| {
            let field = personal.field_of(&event.event_type)?;
            let value = event.payload.get(field).filter(|v| sealed_parts(v).is_some())?;
            Some((personal, field, value))
        });
        let Some((personal, field, value)) = sealed else { return Ok(event.payload.clone()) };
        let unreadable = |reason: String| StoreError::Unreadable {
            stream_id: event.stream_id.to_string(),
            stream_version: event.stream_version,
            global_position: event.global_position,
            reason,
        };
        let person = personal
            .person_of(&event.stream_id)
            .ok_or_else(|| unreadable(format!("a sealed {field} outside a {} stream", personal.category)))?;
        let clear = keys
            .open(person, event.stream_id.as_str(), event.event_id, &event.event_type, field, value)
            .map_err(unreadable)?;
        let mut payload = event.payload.clone();
        payload[field] = clear;
        Ok(payload)
    }
}
