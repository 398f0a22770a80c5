//! Opaque ids and cursors (DESIGN §5): clients never see a uuid or a keyset position they
//! could build by hand. An id is base64url of `Kind:<uuid>`, so `node(id:)` knows the kind; a
//! cursor is base64url of the projection's own cursor as JSON.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// The kinds of entity that have a global id (the `Node` types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Project,
    Session,
    Person,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Project, Kind::Session, Kind::Person];

    fn name(self) -> &'static str {
        match self {
            Kind::Project => "Project",
            Kind::Session => "Session",
            Kind::Person => "Person",
        }
    }
}

/// The opaque id of entity `id` of `kind`.
pub fn encode(kind: Kind, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// The kind and uuid behind an opaque id; `None` for anything that is not one of ours.
pub fn decode_any(id: &ID) -> Option<(Kind, Uuid)> {
    let raw = URL_SAFE_NO_PAD.decode(id.as_str()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (name, uuid) = text.split_once(':')?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == name)?;
    Some((kind, Uuid::parse_str(uuid).ok()?))
}

/// The uuid behind an opaque id of `kind`; `None` for an id of another kind or none of ours.
pub fn decode(kind: Kind, id: &ID) -> Option<Uuid> {
    decode_any(id).filter(|(k, _)| *k == kind).map(|(_, uuid)| uuid)
}

/// An opaque cursor for a projection's keyset position.
pub fn encode_cursor<C: Serialize>(cursor: &C) -> String {
    // a cursor is plain data (strings, dates, uuids): serializing it cannot fail
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// The keyset position behind an opaque cursor; `None` when it is not one.
pub fn decode_cursor<C: DeserializeOwned>(raw: &str) -> Option<C> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_kind() {
        let id = Uuid::now_v7();
        let project = encode(Kind::Project, id);
        assert_eq!(decode_any(&project), Some((Kind::Project, id)));
        assert_eq!(decode(Kind::Project, &project), Some(id));
        assert_eq!(decode(Kind::Session, &project), None, "a project id is not a session id");
        assert_eq!(decode_any(&ID(id.to_string())), None, "a bare uuid is not an id");
        assert_eq!(decode_any(&ID(URL_SAFE_NO_PAD.encode(format!("Visit:{id}")))), None);
    }
}
