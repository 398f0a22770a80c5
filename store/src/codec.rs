//! Typed events in and out of the log, with upcasting of old schema versions on read.
//!
//! Domain event enums serialize adjacently tagged (`{"type": …, "payload": …}`); the tag
//! becomes `event_type`, the content `payload`. On read, registered upcasters bring an old
//! `(event_type, schema_version)` payload up to the current shape before serde sees it.

use crate::error::StoreError;
use crate::model::{NewEvent, RecordedEvent};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::collections::HashMap;

type UpcastFn = Box<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

/// Registry of payload migrations, `(event_type, from_version) -> payload of from_version + 1`.
#[derive(Default)]
pub struct Upcasters {
    steps: HashMap<(String, i32), UpcastFn>,
}

impl Upcasters {
    /// Carnet's own upcasters. Every event type is at schema version 1 so far.
    pub fn carnet() -> Self {
        Self::default()
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
    /// or a schema version from the future is [`StoreError::Unreadable`], naming the event.
    pub fn decode<E: DeserializeOwned>(&self, event: &RecordedEvent) -> Result<E, StoreError> {
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
        let payload =
            self.upcast(&event.event_type, event.schema_version, event.payload.clone()).map_err(unreadable)?;
        let tagged = serde_json::json!({ "type": event.event_type, "payload": payload });
        serde_json::from_value(tagged).map_err(|e| unreadable(format!("{}: {e}", event.event_type)))
    }
}
