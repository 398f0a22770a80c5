//! Configuration: defaults < `carnet.toml` < `CARNET_*` environment variables (DESIGN §7).
//! Secrets are wrapped so that logging the configuration never prints them.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A value that must never reach a log: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

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
    /// development: one is generated in `master_key_file`. See `master_keys.rs`.
    pub master_keys: Option<crate::master_keys::MasterKeysConfig>,
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

    /// Defaults, then `carnet.toml` (or the file named by `CARNET_CONFIG`) if present, then
    /// `CARNET_*` variables (`CARNET_DATABASE_URL`, `CARNET_PORT`…).
    pub fn load() -> Result<Self, Box<figment::Error>> {
        let file = std::env::var("CARNET_CONFIG").unwrap_or_else(|_| "carnet.toml".into());
        Ok(Self::figment(&file).extract()?)
    }

    fn figment(file: &str) -> Figment {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("CARNET_").ignore(&["CONFIG"]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type
    fn layers_apply_in_order_and_secrets_stay_hidden() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "carnet.toml",
                "port = 9000\nhost = \"0.0.0.0\"\ndatabase_url = \"postgres://u:pw@db/carnet\"",
            )?;
            jail.set_env("CARNET_PORT", "9100");
            let config = Config::load().map_err(|e| *e)?;
            assert_eq!(config.port, 9100, "environment beats the file");
            assert_eq!(config.host, "0.0.0.0", "the file beats the defaults");
            assert_eq!(config.profile, Profile::Development, "defaults fill the rest");
            assert!(config.graphiql_enabled() && config.introspection_enabled(), "on in development");
            jail.set_env("CARNET_PROFILE", "production");
            let production = Config::load().map_err(|e| *e)?;
            assert!(!production.graphiql_enabled() && !production.introspection_enabled(), "off in production");
            jail.set_env("CARNET_GRAPHIQL", "true");
            assert!(Config::load().map_err(|e| *e)?.graphiql_enabled(), "unless asked for");
            assert_eq!(config.database_url.expose(), "postgres://u:pw@db/carnet");
            let printed = format!("{config:?}");
            assert!(!printed.contains("pw"), "{printed}");
            assert!(printed.contains("[redacted]"));
            jail.set_env("CARNET_CORS_ALLOWED_ORIGINS", r#"["https://front.example.gouv.fr"]"#);
            let cors = Config::load().map_err(|e| *e)?.cors_allowed_origins;
            assert_eq!(cors, ["https://front.example.gouv.fr"], "a list from the environment");
            Ok(())
        });
    }
}
