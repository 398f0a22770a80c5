//! The master keys that wrap the people's data keys (DESIGN §3.2; how the store uses them:
//! `carnet_store::sealing`).
//!
//! - **Production**: `master_keys` is required, e.g. in the environment
//!   `CARNET_MASTER_KEYS='{current="2026-06",keys={"2026-06"="<base64 of 32 bytes>"}}'`, or a
//!   `[master_keys]` table in `carnet.toml` (a file only root and Carnet read). The database never
//!   holds a master key.
//! - **Development**, without `master_keys`: one key is generated on first run into
//!   `master_key_file` (mode 0600), as the local token secret is, named `local-<8 hex digits>`.
//!   Losing that file loses the personal data of the development database.
//! - **Rotation**: add a new key, make it `current`, keep the old one; run
//!   `carnet rotate-master-key`, which re-wraps every data key with the current master key; then
//!   the old one may leave the configuration.
//!
//! Keys are [`Secret`]s: printing the configuration never shows one, and errors name keys by id.
//!
//! This module knows nothing of the server's configuration: [`load`] is given the configured
//! keys and, in development only, the key file (`carnet_api::config::Config::load_master_keys`
//! passes them).

use crate::Secret;
use anyhow::Context;
use carnet_store::MasterKeys;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// `master_keys` in the configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MasterKeysConfig {
    /// The id of the key that wraps new data keys (and rotated ones).
    pub current: String,
    /// Every master key by id, base64 of 32 bytes: the current one, and older ones until
    /// `carnet rotate-master-key` has re-wrapped what they wrapped.
    pub keys: BTreeMap<String, Secret>,
}

impl MasterKeysConfig {
    /// The keys, parsed; an error names the key at fault, never its value.
    pub fn parse(&self) -> anyhow::Result<MasterKeys> {
        let keys = self
            .keys
            .iter()
            .map(|(id, text)| Ok((id.clone(), MasterKeys::decode_key(id, text.expose())?)))
            .collect::<Result<Vec<_>, carnet_store::personal_data::KeyError>>()?;
        Ok(MasterKeys::new(&self.current, keys)?)
    }

    /// A configuration holding `keys` (with their current one), e.g. for a scratch database.
    pub fn of(keys: &MasterKeys) -> Self {
        Self {
            current: keys.current_id().unwrap_or_default().to_owned(),
            keys: keys.ids().filter_map(|id| Some((id.to_owned(), Secret::new(keys.export(id)?)))).collect(),
        }
    }
}

/// The master keys: the `configured` ones if any. Otherwise, in development (where
/// `development_file` is the `master_key_file`; production passes `None`), the key of that
/// file, generated there first when `create` (a reader passes `false`: it then gets no key, and
/// fails only on sealed data, naming the key it lacks).
pub fn load(
    configured: Option<&MasterKeysConfig>,
    development_file: Option<&Path>,
    create: bool,
) -> anyhow::Result<Arc<MasterKeys>> {
    if let Some(keys) = configured {
        return Ok(Arc::new(keys.parse().context("invalid master_keys")?));
    }
    let Some(path) = development_file else {
        anyhow::bail!(
            "master_keys is required in production: the keys that protect personal data at rest \
             (e.g. CARNET_MASTER_KEYS='{{current=\"k1\",keys={{k1=\"<base64 of 32 random bytes>\"}}}}')"
        );
    };
    if !path.exists() {
        if !create {
            return Ok(Arc::new(MasterKeys::default()));
        }
        let id = format!("local-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let keys = MasterKeys::generate(&id);
        let line = format!("{id} {}\n", keys.export(&id).unwrap_or_default());
        carnet_store::private_files::write_new_private_file(path, line.as_bytes())
            .with_context(|| format!("cannot create the master key file {}", path.display()))?;
        tracing::info!(path = %path.display(), key = %id, "generated a local master key");
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the master key file {}", path.display()))?;
    let (id, key) = text
        .trim()
        .split_once(' ')
        .with_context(|| format!("the master key file {} is not `<id> <base64 key>`", path.display()))?;
    let key = MasterKeys::decode_key(id, key)?;
    Ok(Arc::new(MasterKeys::new(id, [(id.to_owned(), key)])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_generates_a_private_key_once_production_requires_one() {
        let dir = std::env::temp_dir().join(format!("carnet-master-key-{}", uuid::Uuid::new_v4().simple()));
        let file = dir.join("master-key");
        let none = load(None, Some(&file), false).unwrap();
        assert_eq!(none.current_id(), None, "a reader creates nothing");
        assert!(!file.exists());
        let first = load(None, Some(&file), true).unwrap();
        let id = first.current_id().unwrap().to_owned();
        assert!(id.starts_with("local-"), "{id}");
        assert_eq!(
            load(None, Some(&file), true).unwrap().export(&id),
            first.export(&id),
            "the same key on the next run"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);

        let refused = load(None, None, true).unwrap_err().to_string();
        assert!(refused.contains("master_keys is required in production"), "{refused}");
    }
}
