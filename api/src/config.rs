//! Configuration: defaults < `carnet.toml` < `CARNET_*` environment variables (DESIGN §7).
//! Secrets are wrapped so that logging the configuration never prints them.
//!
//! A configuration that cannot be used stops every command (`serve`, `migrate`, `token`,
//! `verify`…) before anything is opened or written, with a [`ConfigError`] that names where
//! the mistake is (the file, or the environment variable), the key, and the accepted keys or
//! values:
//! - `CARNET_CONFIG` naming a file that is missing or cannot be read (a typo in the path must not
//!   start a development server with demo data). `carnet.toml` in the working directory is
//!   optional when not named; it is looked for there only, not in parent folders.
//! - An unknown key, at the top or in any table (`[[oidc]]`, `[rate_limit]`, `[sealing]`,
//!   `[checkpoints]`, `[websocket]`, `[expensive_queries]`, `[master_keys]`): every configuration type denies
//!   unknown fields (a new table must too: the unit test's table lists one key of each), and
//!   the error's path tells which table.
//! - **Unknown `CARNET_*` variables are refused too** (`CARNET_PROT=9000`, `CARNET_DATABSE_URL`):
//!   the environment is a layer of the configuration like the file, and a misspelt variable
//!   otherwise silently leaves the default in place (SQLite, development). Only `CARNET_CONFIG`
//!   is not a key. In Kubernetes, a Service named `carnet` injects `CARNET_PORT=tcp://…` and
//!   `CARNET_SERVICE_HOST`: set `enableServiceLinks: false` on the pod, or name the Service
//!   otherwise.
//! - A value of the wrong type or an unknown value (`port = "huit"`, `profile = "prod"`). Values
//!   under `database_url` and `master_keys` are never quoted in these messages.

use carnet_lab::Secret;
use carnet_lab::master_keys::MasterKeysConfig;
use carnet_store::MasterKeys;
use figment::Figment;
use figment::error::{Actual, Kind};
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub profile: Profile,
    /// `sqlite://data/carnet.db` (embedded default) or `postgres://…`; may hold a password.
    pub database_url: Secret,
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    pub log_format: LogFormat,
    /// GraphiQL at `/`; unset: on in development, off in production.
    pub graphiql: Option<bool>,
    /// Schema introspection; unset: on in development, off in production.
    pub introspection: Option<bool>,
    /// The secret of local HS256 tokens, created (mode 0600) on first run.
    pub jwt_secret_file: String,
    /// The master keys that wrap the people's data keys (`{ current = "…", keys = { id =
    /// "<base64 of 32 bytes>", … } }`, DESIGN §3.2). Required in production; unset in
    /// development: one is generated in `master_key_file`. See `carnet_lab::master_keys`.
    pub master_keys: Option<MasterKeysConfig>,
    /// Development only, without `master_keys`: the generated master key (mode 0600).
    pub master_key_file: String,
    /// The lab's prefix in references (`110B-P-2026-007`).
    pub reference_prefix: String,
    /// Fictitious demo data on a new (empty) database at `serve`; unset: on in development,
    /// off in production.
    pub demo_data: Option<bool>,
    /// `/readyz` fails when the live feed of the subscriptions is more events than this behind
    /// the log.
    pub readiness_max_lag: usize,
    /// Origins (`https://front.example.gouv.fr`) whose pages may call the API from a browser.
    /// Empty: none; same-origin pages (GraphiQL) need no entry.
    pub cors_allowed_origins: Vec<String>,
    /// An OpenID Connect identity linked to no person: `refuse` (default) or `register` (with no
    /// role). See `identity.rs`.
    pub first_login: crate::identity::FirstLogin,
    /// The OpenID Connect providers whose tokens are accepted (`[[oidc]]` tables); none by
    /// default. See `jwks.rs`.
    pub oidc: Vec<crate::jwks::OidcProvider>,
    /// Requests per caller (`per_minute`, 0 = off; `burst`): see `rate_limit.rs`.
    pub rate_limit: crate::rate_limit::RateLimitConfig,
    /// Operations at once over WebSocket (`[websocket]`: `max_operations_per_connection`,
    /// `max_operations_per_caller`): see `ws.rs`.
    pub websocket: crate::ws::WebSocketConfig,
    /// Folds of the log at once (`[expensive_queries]`: `concurrency`, `queue`, `wait_ms`): see
    /// `graphql/expensive.rs`.
    pub expensive_queries: crate::graphql::expensive::ExpensiveConfig,
    /// How long the access log keeps a request, in days (it holds callers' subjects and
    /// addresses: the CNIL recommends 6 to 12 months). See `access_log.rs`.
    pub access_log_retention_days: u32,
    /// Global seals of the log (`[sealing]`: `enabled`, `every_events`, `every_seconds`; by
    /// default every 1 000 events or 60 s, whichever comes first). See `carnet_store::integrity`.
    pub sealing: carnet_store::integrity::SealPolicy,
    /// Signed checkpoints of the log's Merkle tree (`[checkpoints]`: `enabled`, `every_ms`,
    /// `key_file`, `origin`; by default every second, the key in `data/checkpoint-key`,
    /// generated in development, required in production). See `carnet_lab::checkpoints`.
    pub checkpoints: carnet_lab::checkpoints::CheckpointConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            profile: Profile::Development,
            database_url: Secret::new("sqlite://data/carnet.db"),
            host: "127.0.0.1".into(),
            port: 8080,
            log_format: LogFormat::Pretty,
            graphiql: None,
            introspection: None,
            jwt_secret_file: "data/jwt-secret".into(),
            master_keys: None,
            master_key_file: "data/master-key".into(),
            reference_prefix: "110B".into(),
            demo_data: None,
            readiness_max_lag: 1000,
            cors_allowed_origins: vec![],
            first_login: Default::default(),
            oidc: vec![],
            rate_limit: Default::default(),
            websocket: Default::default(),
            expensive_queries: Default::default(),
            access_log_retention_days: 180,
            sealing: Default::default(),
            checkpoints: Default::default(),
        }
    }
}

impl Config {
    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql.unwrap_or(self.profile == Profile::Development)
    }

    pub fn demo_data_enabled(&self) -> bool {
        self.demo_data.unwrap_or(self.profile == Profile::Development)
    }

    pub fn introspection_enabled(&self) -> bool {
        self.introspection.unwrap_or(self.profile == Profile::Development)
    }

    /// The master keys: `master_keys`, or in development the key of `master_key_file`, generated
    /// there first when `create` (`carnet_lab::master_keys::load`).
    pub fn load_master_keys(&self, create: bool) -> anyhow::Result<Arc<MasterKeys>> {
        let development_file = (self.profile == Profile::Development).then(|| Path::new(&self.master_key_file));
        carnet_lab::master_keys::load(self.master_keys.as_ref(), development_file, create)
    }

    /// The checkpoint signer: the key of `checkpoints.key_file`, generated there first in
    /// development; in production the file is required (`carnet_lab::checkpoints::load_signer`).
    pub fn load_checkpoint_signer(&self) -> anyhow::Result<carnet_store::integrity::checkpoint::CheckpointSigner> {
        let generate_as = (self.profile == Profile::Development).then_some(self.checkpoints.origin.as_str());
        carnet_lab::checkpoints::load_signer(Path::new(&self.checkpoints.key_file), generate_as)
    }

    /// What the server remembers of the checkpoints it issued (`None` when it issues none).
    pub fn load_remembered(&self) -> anyhow::Result<Option<carnet_lab::checkpoints::Remembered>> {
        if !self.checkpoints.enabled {
            return Ok(None);
        }
        let signer = self.load_checkpoint_signer()?;
        Ok(Some(carnet_lab::checkpoints::Remembered::load(self.checkpoints.latest_file(), signer)?))
    }

    /// Defaults, then the file named by `CARNET_CONFIG` (which must be readable) or else
    /// `carnet.toml` in the working directory if present, then `CARNET_*` variables
    /// (`CARNET_DATABASE_URL`, `CARNET_PORT`…). See the module documentation for what fails.
    pub fn load() -> Result<Self, ConfigError> {
        match std::env::var_os("CARNET_CONFIG") {
            Some(file) => Self::load_from(Path::new(&file), true),
            None => Self::load_from(Path::new("carnet.toml"), false),
        }
    }

    /// [`Self::load`] with `file`; `named`: it must exist.
    fn load_from(file: &Path, named: bool) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match std::fs::read_to_string(file) {
            Ok(_) => figment = figment.merge(Toml::file_exact(file)),
            Err(e) if !named && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ConfigError::Unreadable { file: file.to_owned(), named, source }),
        }
        let figment = figment.merge(Env::prefixed(ENV_PREFIX).ignore(&["CONFIG"]));
        figment.extract().map_err(|e| ConfigError::invalid(&figment, file, e))
    }
}

/// The prefix of the configuration's environment variables.
const ENV_PREFIX: &str = "CARNET_";

/// Keys whose values are never quoted in an error: they may hold secrets.
const SECRET_KEYS: &[&str] = &["database_url", "master_keys"];

/// Why the configuration cannot be used: the start stops, whatever the command.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read (missing, a folder, not readable, not UTF-8).
    #[error(
        "invalid configuration: the file {} {} cannot be read: {source}",
        file.display(),
        if *named { "(named by CARNET_CONFIG)" } else { "(carnet.toml in the working directory)" }
    )]
    Unreadable {
        file: PathBuf,
        named: bool,
        #[source]
        source: std::io::Error,
    },
    /// A key or value is wrong (or the file is not TOML): where, which key, what is accepted.
    #[error("invalid configuration in {origin}: {problem}")]
    Invalid { origin: String, key: String, problem: String },
}

impl ConfigError {
    /// The first of figment's errors, said with its origin (the file or the variable, found
    /// from the key's path), the key as written, and what is accepted there.
    fn invalid(figment: &Figment, file: &Path, error: figment::Error) -> Self {
        let error = error.into_iter().next().expect("an error holds at least itself");
        let mut path = error.path.clone();
        if let Kind::UnknownField(field, _) = &error.kind
            && path.last() != Some(field)
        {
            path.push(field.clone());
        }
        // the value's own metadata when the key is in the merged configuration (an unknown key,
        // a wrong value), the error's otherwise (a file that is not TOML)
        let metadata = (1..=path.len())
            .rev()
            .map(|n| path[..n].join("."))
            .find_map(|key| figment.find_metadata(&key))
            .or(error.metadata.as_ref());
        let from_env = metadata.is_some_and(|m| m.name.contains("environment"));
        let from_file = metadata.is_some_and(|m| m.source.as_ref().and_then(|s| s.file_path()).is_some());
        let origin = if from_env {
            format!("the environment variable {}", env_name(path.first().map_or("", String::as_str)))
        } else if from_file {
            format!("the file {}", file.display())
        } else {
            "the configuration".to_owned()
        };
        let key = key_name(&path);
        let secret = path.first().is_some_and(|k| SECRET_KEYS.contains(&k.as_str()));
        let found = |actual: &Actual| if secret { "a value (not shown)".to_owned() } else { actual.to_string() };
        let problem = match &error.kind {
            Kind::UnknownField(field, accepted) => {
                let table = key_name(&path[..path.len().saturating_sub(1)]);
                let (what, accepted) = if from_env && path.len() <= 1 {
                    ("variables", accepted.iter().map(|k| env_name(k)).collect::<Vec<_>>())
                } else {
                    ("keys", accepted.iter().map(|k| k.to_string()).collect())
                };
                let place = if table.is_empty() { String::new() } else { format!(" in `{table}`") };
                format!("unknown key `{field}`{place}; the accepted {what}{place} are: {}", accepted.join(", "))
            }
            Kind::UnknownVariant(value, accepted) => {
                let value = if secret { "(not shown)" } else { value.as_str() };
                format!("`{key}`: unknown value `{value}`; the accepted values are: {}", accepted.join(", "))
            }
            Kind::InvalidType(actual, expected) => format!("`{key}`: expected {expected}, found {}", found(actual)),
            Kind::InvalidValue(actual, expected) => format!("`{key}`: expected {expected}, found {}", found(actual)),
            Kind::MissingField(field) => {
                let table = if key.is_empty() { String::new() } else { format!(" in `{key}`") };
                format!("the key `{field}` is missing{table}")
            }
            other if key.is_empty() => other.to_string(),
            other => format!("`{key}`: {other}"),
        };
        ConfigError::Invalid { origin, key, problem }
    }
}

/// `CARNET_RATE_LIMIT` for `rate_limit`.
fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// A key's path as written: `rate_limit.burst`, `oidc[1].issuer`.
fn key_name(path: &[String]) -> String {
    let mut name = String::new();
    for segment in path {
        if segment.parse::<usize>().is_ok() {
            name.push_str(&format!("[{segment}]"));
        } else {
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(segment);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jail's closures return figment's error type.
    fn jail_error(e: ConfigError) -> figment::Error {
        figment::Error::from(e.to_string())
    }

    /// The error `carnet.toml` holding `toml` gives, as printed.
    fn refused(jail: &mut figment::Jail, toml: &str) -> String {
        jail.create_file("carnet.toml", toml).expect("write carnet.toml");
        let error = Config::load().expect_err(toml).to_string();
        std::fs::remove_file("carnet.toml").expect("remove carnet.toml");
        error
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type
    fn layers_apply_in_order_and_secrets_stay_hidden() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "carnet.toml",
                "port = 9000\nhost = \"0.0.0.0\"\ndatabase_url = \"postgres://u:pw@db/carnet\"",
            )?;
            jail.set_env("CARNET_PORT", "9100");
            let config = Config::load().map_err(jail_error)?;
            assert_eq!(config.port, 9100, "environment beats the file");
            assert_eq!(config.host, "0.0.0.0", "the file beats the defaults");
            assert_eq!(config.profile, Profile::Development, "defaults fill the rest");
            assert!(config.graphiql_enabled() && config.introspection_enabled(), "on in development");
            jail.set_env("CARNET_PROFILE", "production");
            let production = Config::load().map_err(jail_error)?;
            assert!(!production.graphiql_enabled() && !production.introspection_enabled(), "off in production");
            jail.set_env("CARNET_GRAPHIQL", "true");
            assert!(Config::load().map_err(jail_error)?.graphiql_enabled(), "unless asked for");
            assert_eq!(config.database_url.expose(), "postgres://u:pw@db/carnet");
            let printed = format!("{config:?}");
            assert!(!printed.contains("pw"), "{printed}");
            assert!(printed.contains("[redacted]"));
            jail.set_env("CARNET_CORS_ALLOWED_ORIGINS", r#"["https://front.example.gouv.fr"]"#);
            let cors = Config::load().map_err(jail_error)?.cors_allowed_origins;
            assert_eq!(cors, ["https://front.example.gouv.fr"], "a list from the environment");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_named_file_must_be_readable_an_absent_carnet_toml_gives_the_defaults() {
        figment::Jail::expect_with(|jail| {
            let defaults = Config::load().map_err(jail_error)?;
            assert_eq!((defaults.port, defaults.profile), (8080, Profile::Development), "no file, not named: fine");

            jail.set_env("CARNET_CONFIG", "/etc/carnet/carnte.toml");
            let missing = Config::load().unwrap_err();
            assert!(matches!(missing, ConfigError::Unreadable { named: true, .. }), "{missing:?}");
            let message = missing.to_string();
            assert!(message.contains("/etc/carnet/carnte.toml") && message.contains("CARNET_CONFIG"), "{message}");

            jail.create_dir("a-folder")?;
            jail.set_env("CARNET_CONFIG", "a-folder");
            let folder = Config::load().unwrap_err().to_string();
            assert!(folder.contains("the file a-folder (named by CARNET_CONFIG) cannot be read"), "{folder}");

            jail.create_file("carnet.production.toml", "port = 9000")?;
            jail.set_env("CARNET_CONFIG", "carnet.production.toml");
            assert_eq!(Config::load().map_err(jail_error)?.port, 9000, "a named file that exists is read");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn an_unknown_key_anywhere_names_the_file_the_key_and_the_accepted_keys() {
        figment::Jail::expect_with(|jail| {
            let oidc = "[[oidc]]\nissuer = \"https://idp\"\naudience = \"carnet\"\njwks_file = \"jwks.json\"\n";
            let table = [
                (
                    "prot = 8080".to_owned(),
                    "unknown key `prot`; the accepted keys are: profile, database_url, host, port,",
                ),
                (
                    format!("{oidc}{oidc}issuerr = \"x\""),
                    "unknown key `issuerr` in `oidc[1]`; the accepted keys in `oidc[1]` are: issuer, audience,",
                ),
                (
                    "[rate_limit]\nper_minut = 5".into(),
                    "unknown key `per_minut` in `rate_limit`; the accepted keys in `rate_limit` are: per_minute, burst, trust_forwarded_for",
                ),
                (
                    "[sealing]\nevery_second = 5".into(),
                    "unknown key `every_second` in `sealing`; the accepted keys in `sealing` are: enabled, every_events, every_seconds",
                ),
                (
                    "[websocket]\nmax_operation_per_connection = 5".into(),
                    "unknown key `max_operation_per_connection` in `websocket`; the accepted keys in `websocket` are:",
                ),
                (
                    "[expensive_queries]\nconcurency = 5".into(),
                    "unknown key `concurency` in `expensive_queries`; the accepted keys in `expensive_queries` are:",
                ),
                (
                    "[checkpoints]\nevery_s = 5".into(),
                    "unknown key `every_s` in `checkpoints`; the accepted keys in `checkpoints` are: enabled, every_ms, key_file, origin",
                ),
                (
                    "[master_keys]\ncurrent = \"k\"\nkeys = {}\ncurent = \"k\"".into(),
                    "unknown key `curent` in `master_keys`; the accepted keys in `master_keys` are: current, keys",
                ),
            ];
            for (toml, expected) in table {
                let error = refused(jail, &toml);
                assert!(error.starts_with("invalid configuration in the file carnet.toml: "), "{toml}: {error}");
                assert!(error.contains(expected), "{toml}: {error}");
            }
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_wrong_value_names_its_key_and_never_quotes_a_secret() {
        figment::Jail::expect_with(|jail| {
            let port = refused(jail, "port = \"huit mille\"");
            assert!(port.contains("the file carnet.toml: `port`: expected u16, found string \"huit mille\""), "{port}");
            let profile = refused(jail, "profile = \"prod\"");
            assert!(
                profile.contains("`profile`: unknown value `prod`; the accepted values are: development, production"),
                "{profile}"
            );
            let nested = refused(jail, "[sealing]\nevery_events = \"1000\"");
            assert!(nested.contains("`sealing.every_events`: expected u64"), "{nested}");
            let keys = refused(jail, "[master_keys]\ncurrent = \"k\"\nkeys = \"c2VjcmV0LWtleQ\"");
            assert!(keys.contains("`master_keys.keys`") && !keys.contains("c2VjcmV0"), "{keys}");
            let url = refused(jail, "database_url = [\"postgres://u:s3cret@db/carnet\"]");
            assert!(url.contains("`database_url`") && !url.contains("s3cret"), "{url}");
            let not_toml = refused(jail, "port = = 1");
            assert!(not_toml.contains("the file carnet.toml") && not_toml.contains("line 1"), "{not_toml}");
            Ok(())
        });
    }

    /// The environment is a layer like the file: a misspelt variable is refused, not ignored.
    #[test]
    #[allow(clippy::result_large_err)]
    fn unknown_or_wrong_environment_variables_are_refused_by_name() {
        let with_env = |name: &'static str, value: &'static str| {
            let mut printed = String::new();
            figment::Jail::expect_with(|jail| {
                jail.set_env(name, value);
                printed = Config::load().expect_err(name).to_string();
                Ok(())
            });
            printed
        };
        let unknown = with_env("CARNET_PROT", "9000");
        assert!(
            unknown.starts_with(
                "invalid configuration in the environment variable CARNET_PROT: unknown key `prot`; the accepted \
                 variables are: CARNET_PROFILE, CARNET_DATABASE_URL, CARNET_HOST, CARNET_PORT,"
            ),
            "{unknown}"
        );
        let misspelt = with_env("CARNET_DATABSE_URL", "postgres://carnet:s3cret@db/carnet");
        assert!(misspelt.contains("CARNET_DATABSE_URL") && !misspelt.contains("s3cret"), "{misspelt}");
        let port = with_env("CARNET_PORT", "huit");
        assert!(port.contains("the environment variable CARNET_PORT: `port`: expected u16"), "{port}");
        let nested = with_env("CARNET_RATE_LIMIT", "{burts=3}");
        assert!(
            nested.contains(
                "variable CARNET_RATE_LIMIT: unknown key `burts` in `rate_limit`; the accepted keys in `rate_limit` \
                 are: per_minute, burst"
            ),
            "{nested}"
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type
    fn master_keys_come_from_the_environment_never_print_and_production_requires_them() {
        figment::Jail::expect_with(|jail| {
            let k1 = MasterKeys::encode_key(&[1; 32]);
            let k2 = MasterKeys::encode_key(&[2; 32]);
            jail.set_env(
                "CARNET_MASTER_KEYS",
                format!(r#"{{current="prod-2026",keys={{k1="{k1}",prod-2026="{k2}"}}}}"#),
            );
            let config = Config::load().map_err(jail_error)?;
            let keys = config.load_master_keys(true).unwrap();
            assert_eq!(keys.current_id(), Some("prod-2026"));
            assert_eq!(keys.ids().collect::<Vec<_>>(), ["k1", "prod-2026"]);
            let printed = format!("{config:?}");
            assert!(!printed.contains(&k1) && !printed.contains(&k2), "{printed}");

            jail.set_env("CARNET_MASTER_KEYS", r#"{current="k1",keys={k1="c2hvcnQ="}}"#);
            let config = Config::load().map_err(jail_error)?;
            let error = format!("{:#}", config.load_master_keys(true).unwrap_err());
            assert!(error.contains("master key `k1` is not 32 bytes"), "{error}");
            assert!(!error.contains("c2hvcnQ"), "{error}");

            let production = Config { profile: Profile::Production, ..Config::default() };
            let refused = production.load_master_keys(true).unwrap_err().to_string();
            assert!(refused.contains("master_keys is required in production"), "{refused}");
            Ok(())
        });
    }
}
