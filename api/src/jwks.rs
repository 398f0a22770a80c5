//! OpenID Connect providers (DESIGN §6): their configuration (`[[oidc]]` in `carnet.toml`) and
//! the signing keys of each, from its JWKS.
//!
//! - **Where the keys come from.** `jwks_file` (read at start; a file that cannot be read or
//!   holds no usable key stops the start) or `jwks_url` (`https://`, or `http://` to the loopback
//!   only: keys fetched in clear text over a network could be anyone's). A URL that does not
//!   answer at start does **not** stop the server: local tokens and the other providers keep
//!   working, an error is logged, this provider's tokens are refused until the keys arrive, and
//!   the fetch is retried every minute (sooner if `refresh_seconds` is shorter). Redirects are not
//!   followed: configure the `jwks_uri` the provider's discovery document gives.
//! - **Refresh.** Every `refresh_seconds` (default 3600) in the background, file or URL; and at
//!   once when a token names a `kid` the set lacks (a provider rotating its keys), but at most once
//!   per [`ON_DEMAND_INTERVAL`] per provider, so that a flood of tokens with random kids costs the
//!   provider one request a minute. Concurrent requests with an unknown kid wait for the one fetch
//!   in flight instead of starting their own. A refresh that fails, or brings no usable key, keeps
//!   the previous keys (logged); a successful one replaces them all, so a removed key stops
//!   working at the next refresh.
//! - **Which keys count.** Public keys with a `kid`. Keys for encryption (`use: enc`, or `key_ops`
//!   without `verify`), symmetric keys (`kty: oct`: a JWKS is public, an HMAC key in it is
//!   anyone's) and keys jsonwebtoken cannot read are skipped when the set is loaded. At
//!   verification, a key's `alg`, when given, must be the token's, and its type must fit the
//!   token's algorithm in any case (RSA for RS256, EC P-256 for ES256, Ed25519 for EdDSA); a
//!   `kid` may name several keys, the first that fits is used.
//! - **Locking.** The keys sit behind a `std` `RwLock` held only to clone an `Arc` out or to swap a
//!   new set in, never across an `await`; the on-demand refresh is serialized by an async mutex
//!   that only requests with an unknown kid ever wait on.

use carnet_domain::person::Role;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

/// At most one fetch per provider this often because of an unknown `kid`.
pub const ON_DEMAND_INTERVAL: Duration = Duration::from_secs(60);
/// After a failed fetch, the background task tries again this soon (or at `refresh_seconds`, if
/// sooner).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// A JWKS request, from connection to the last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A JWKS larger than this is refused (real ones are a few KB).
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The signature algorithms a provider may be configured with. Never HMAC: `HS256` is for local
/// tokens only, whatever a provider's token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OidcAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

impl OidcAlgorithm {
    pub const ALL: [Self; 3] = [Self::RS256, Self::ES256, Self::EdDSA];

    fn all() -> Vec<Self> {
        Self::ALL.to_vec()
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }

    pub fn from_algorithm(alg: Algorithm) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.algorithm() == alg)
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::RS256 => KeyAlgorithm::RS256,
            Self::ES256 => KeyAlgorithm::ES256,
            Self::EdDSA => KeyAlgorithm::EdDSA,
        }
    }

    /// Whether `jwk` may verify this algorithm: its `alg`, if set, is this one, and its type and
    /// curve fit.
    pub fn fits(self, jwk: &Jwk) -> bool {
        if jwk.common.key_algorithm.is_some_and(|a| a != self.key_algorithm()) {
            return false;
        }
        match (self, &jwk.algorithm) {
            (Self::RS256, AlgorithmParameters::RSA(_)) => true,
            (Self::ES256, AlgorithmParameters::EllipticCurve(p)) => p.curve == EllipticCurve::P256,
            (Self::EdDSA, AlgorithmParameters::OctetKeyPair(p)) => p.curve == EllipticCurve::Ed25519,
            _ => false,
        }
    }
}

/// One OpenID Connect provider whose tokens Carnet accepts (`[[oidc]]` in `carnet.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// The provider's `iss`, exactly as its tokens carry it (its discovery document's `issuer`).
    pub issuer: String,
    /// The `aud` Carnet's tokens carry: the client id registered with the provider.
    pub audience: String,
    /// The JWKS, from a file…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<String>,
    /// …or from a URL (exactly one of the two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// The algorithms accepted from this provider; default: all of RS256, ES256, EdDSA.
    #[serde(default = "OidcAlgorithm::all")]
    pub algorithms: Vec<OidcAlgorithm>,
    /// How often the JWKS is read again, in seconds (default 3600).
    #[serde(default = "default_refresh_seconds")]
    pub refresh_seconds: u64,
    /// A claim carrying the caller's groups or roles at the provider (a string or an array of
    /// strings; `a.b` reads a nested claim when no claim is named `a.b`), for `role_mapping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_claim: Option<String>,
    /// Values of `roles_claim` → the Carnet role they give (`{ lab = "LAB_TEAM" }`); other
    /// values give nothing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub role_mapping: BTreeMap<String, Role>,
    /// A claim carrying académie codes (`"24"` or `["01", "24"]`): the territory of a mapped
    /// `ACADEMIE` role. Unknown codes are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub academies_claim: Option<String>,
}

fn default_refresh_seconds() -> u64 {
    3600
}

impl Default for OidcProvider {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: String::new(),
            jwks_file: None,
            jwks_url: None,
            algorithms: OidcAlgorithm::all(),
            refresh_seconds: default_refresh_seconds(),
            roles_claim: None,
            role_mapping: BTreeMap::new(),
            academies_claim: None,
        }
    }
}

/// Why a JWKS could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read {path}: {error}")]
    File { path: String, error: std::io::Error },
    #[error("cannot fetch {url}: {error}")]
    Fetch { url: String, error: String },
    #[error("not a JWKS: {0}")]
    Parse(String),
    #[error("no usable signing key (RSA, EC P-256 or Ed25519, with a kid)")]
    NoKey,
}

/// A configured provider at run time: its settings and its current keys.
pub(crate) struct Provider {
    pub(crate) config: OidcProvider,
    source: Source,
    keys: RwLock<Arc<Keys>>,
    /// When an unknown `kid` last caused a fetch; held during that fetch.
    on_demand: tokio::sync::Mutex<Option<Instant>>,
}

enum Source {
    File(PathBuf),
    Url { url: reqwest::Url, client: reqwest::Client },
}

/// A verification key of the set, as published and as jsonwebtoken uses it.
struct Key {
    jwk: Jwk,
    decoding: DecodingKey,
}

#[derive(Default)]
struct Keys(Vec<Key>);

/// Why a provider's key could not verify a token: the kid is not in its set, or the keys of
/// that kid do not fit the token's algorithm.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyError {
    Unknown,
    Mismatch,
}

impl Provider {
    /// Checks `config` and reads its keys: a file now (its failure is the caller's error), a URL
    /// now too, but its failure is only logged (the background task keeps trying). Starts the
    /// background refresh, which ends when the provider is dropped.
    pub(crate) async fn start(config: OidcProvider) -> anyhow::Result<Arc<Self>> {
        let source = check(&config)?;
        let provider =
            Arc::new(Self { config, source, keys: Default::default(), on_demand: tokio::sync::Mutex::new(None) });
        let loaded = match provider.refresh().await {
            Ok(_) => true,
            Err(e) => match provider.source {
                Source::File(_) => anyhow::bail!("OpenID Connect provider {}: {e}", provider.config.issuer),
                Source::Url { .. } => {
                    tracing::error!(
                        issuer = %provider.config.issuer,
                        error = %e,
                        "cannot load the provider's JWKS: its tokens are refused until it answers; retrying every minute"
                    );
                    false
                }
            },
        };
        spawn_refresh(Arc::downgrade(&provider), loaded);
        Ok(provider)
    }

    /// The key of `kid` for `alg`, fetching the set again first if `kid` is not in it (at most
    /// once per [`ON_DEMAND_INTERVAL`]).
    pub(crate) async fn key(&self, kid: &str, alg: OidcAlgorithm) -> Result<DecodingKey, KeyError> {
        if let Some(found) = self.lookup(kid, alg) {
            return found;
        }
        let mut last = self.on_demand.lock().await;
        // the fetch another request made while this one waited may have brought it
        if let Some(found) = self.lookup(kid, alg) {
            return found;
        }
        if last.is_some_and(|at| at.elapsed() < ON_DEMAND_INTERVAL) {
            return Err(KeyError::Unknown);
        }
        *last = Some(Instant::now());
        tracing::info!(issuer = %self.config.issuer, kid = %truncated(kid), "unknown key id: reading the JWKS again");
        if let Err(e) = self.refresh().await {
            tracing::error!(issuer = %self.config.issuer, error = %e, "cannot refresh the provider's JWKS");
        }
        drop(last);
        self.lookup(kid, alg).unwrap_or(Err(KeyError::Unknown))
    }

    /// `None` when no key has this kid; otherwise the first of them that fits `alg`.
    fn lookup(&self, kid: &str, alg: OidcAlgorithm) -> Option<Result<DecodingKey, KeyError>> {
        // the lock is held for the clone of an Arc only
        let keys = Arc::clone(&self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let mut of_kid = keys.0.iter().filter(|k| k.jwk.common.key_id.as_deref() == Some(kid)).peekable();
        of_kid.peek()?;
        Some(of_kid.find(|k| alg.fits(&k.jwk)).map(|k| k.decoding.clone()).ok_or(KeyError::Mismatch))
    }

    /// Reads the set again and, if it holds a usable key, replaces the current one.
    pub(crate) async fn refresh(&self) -> Result<usize, JwksError> {
        let bytes = match &self.source {
            Source::File(path) => {
                let path = path.clone();
                let read = tokio::task::spawn_blocking(move || std::fs::read(&path))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                read.map_err(|error| JwksError::File {
                    path: self.config.jwks_file.clone().unwrap_or_default(),
                    error,
                })?
            }
            Source::Url { url, client } => fetch(client, url).await?,
        };
        let keys = parse(&bytes, &self.config.issuer)?;
        let count = keys.0.len();
        *self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(keys);
        tracing::info!(issuer = %self.config.issuer, keys = count, "JWKS loaded");
        Ok(count)
    }
}

/// The configuration's mistakes, before anything is read.
fn check(config: &OidcProvider) -> anyhow::Result<Source> {
    let name = &config.issuer;
    anyhow::ensure!(!name.trim().is_empty(), "an OpenID Connect provider has no issuer");
    anyhow::ensure!(
        name != crate::auth::LOCAL_ISSUER,
        "OpenID Connect provider {name}: that issuer is Carnet's own, for local tokens"
    );
    anyhow::ensure!(!config.audience.trim().is_empty(), "OpenID Connect provider {name}: no audience");
    anyhow::ensure!(!config.algorithms.is_empty(), "OpenID Connect provider {name}: no algorithm allowed");
    anyhow::ensure!(config.refresh_seconds > 0, "OpenID Connect provider {name}: refresh_seconds must be positive");
    anyhow::ensure!(
        config.role_mapping.is_empty() || config.roles_claim.is_some(),
        "OpenID Connect provider {name}: role_mapping needs roles_claim"
    );
    match (&config.jwks_file, &config.jwks_url) {
        (Some(file), None) => Ok(Source::File(PathBuf::from(file))),
        (None, Some(raw)) => {
            let url = reqwest::Url::parse(raw)
                .map_err(|e| anyhow::anyhow!("OpenID Connect provider {name}: jwks_url {raw}: {e}"))?;
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            anyhow::ensure!(
                url.scheme() == "https" || (url.scheme() == "http" && loopback),
                "OpenID Connect provider {name}: jwks_url must be https:// (http:// only to the loopback)"
            );
            let client = reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .connect_timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            Ok(Source::Url { url, client })
        }
        _ => anyhow::bail!("OpenID Connect provider {name}: set exactly one of jwks_file and jwks_url"),
    }
}

/// Checks a list of providers as a whole: each issuer once.
pub(crate) fn check_unique(providers: &[OidcProvider]) -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    for p in providers {
        anyhow::ensure!(seen.insert(p.issuer.as_str()), "OpenID Connect provider {} is configured twice", p.issuer);
    }
    Ok(())
}

async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, JwksError> {
    let failed = |error: String| JwksError::Fetch { url: url.to_string(), error };
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json, application/jwk-set+json")
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| failed(e.to_string()))?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(failed(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The usable signing keys of a JWKS document. Keys are read one by one: one that jsonwebtoken
/// does not model (an X25519 encryption key…) is skipped, not a reason to refuse the others.
fn parse(bytes: &[u8], issuer: &str) -> Result<Keys, JwksError> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document = serde_json::from_slice(bytes).map_err(|e| JwksError::Parse(e.to_string()))?;
    let set = JwkSet {
        keys: document
            .keys
            .into_iter()
            .filter_map(|value| match serde_json::from_value::<Jwk>(value) {
                Ok(jwk) => Some(jwk),
                Err(e) => {
                    tracing::warn!(%issuer, error = %e, "JWKS: a key Carnet cannot read is skipped");
                    None
                }
            })
            .collect(),
    };
    let mut keys = Keys::default();
    for jwk in set.keys {
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        let skip = |why: &str| tracing::warn!(%issuer, kid = %truncated(&kid), "JWKS: key skipped: {why}");
        if jwk.common.key_id.is_none() {
            skip("no kid");
            continue;
        }
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            skip("an encryption key");
            continue;
        }
        if jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
            skip("key_ops without verify");
            continue;
        }
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            // a JWKS is public: an HMAC key in it would let anyone sign
            skip("a symmetric key");
            continue;
        }
        match DecodingKey::from_jwk(&jwk) {
            Ok(decoding) => keys.0.push(Key { jwk, decoding }),
            Err(e) => skip(&format!("unreadable ({e})")),
        }
    }
    if keys.0.is_empty() {
        return Err(JwksError::NoKey);
    }
    Ok(keys)
}

/// Reads the set again every `refresh_seconds`, sooner after a failure; ends with the provider.
fn spawn_refresh(provider: Weak<Provider>, loaded: bool) {
    let Some(every) = provider.upgrade().map(|p| Duration::from_secs(p.config.refresh_seconds)) else {
        return;
    };
    let retry = every.min(RETRY_AFTER_FAILURE);
    tokio::spawn(async move {
        let mut wait = if loaded { every } else { retry };
        loop {
            tokio::time::sleep(wait).await;
            let Some(provider) = provider.upgrade() else { break };
            wait = match provider.refresh().await {
                Ok(_) => every,
                Err(e) => {
                    tracing::error!(issuer = %provider.config.issuer, error = %e, "cannot refresh the provider's JWKS; keeping its previous keys");
                    retry
                }
            };
        }
    });
}

/// A value from a token, cut for the log.
pub(crate) fn truncated(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    fn config(toml: &str) -> Result<crate::config::Config, Box<figment::Error>> {
        Ok(Figment::from(Serialized::defaults(crate::config::Config::default())).merge(Toml::string(toml)).extract()?)
    }

    #[test]
    fn providers_are_configured_as_toml_tables_with_defaults() {
        let c = config(
            r#"
            [[oidc]]
            issuer = "https://auth.example.gouv.fr/api/v2"
            audience = "carnet-front"
            jwks_url = "https://auth.example.gouv.fr/api/v2/jwks"

            [[oidc]]
            issuer = "https://idp.ministere.example"
            audience = "carnet"
            jwks_file = "/etc/carnet/idp-jwks.json"
            algorithms = ["ES256"]
            refresh_seconds = 600
            roles_claim = "groups"
            role_mapping = { lab = "LAB_TEAM", audit = "AUDITOR" }
            academies_claim = "academies"
            "#,
        )
        .unwrap();
        assert_eq!(c.oidc.len(), 2);
        let proconnect = &c.oidc[0];
        assert_eq!(proconnect.algorithms, OidcAlgorithm::ALL, "all three by default");
        assert_eq!(proconnect.refresh_seconds, 3600);
        assert!(proconnect.roles_claim.is_none() && proconnect.role_mapping.is_empty());
        let ministry = &c.oidc[1];
        assert_eq!(ministry.algorithms, [OidcAlgorithm::ES256]);
        assert_eq!(ministry.role_mapping.get("audit"), Some(&Role::Auditor));
        assert_eq!(ministry.jwks_file.as_deref(), Some("/etc/carnet/idp-jwks.json"));
        assert!(config("").unwrap().oidc.is_empty(), "none by default");

        for (what, toml) in [
            ("HMAC", "algorithms = [\"HS256\"]"),
            ("an unknown role", "role_mapping = { lab = \"SUPERUSER\" }"),
            ("a misspelt key", "jwks_uri = \"https://x\""),
        ] {
            let bad = format!("[[oidc]]\nissuer = \"https://x\"\naudience = \"a\"\njwks_file = \"f\"\n{toml}");
            assert!(config(&bad).is_err(), "{what} was accepted");
        }
    }

    #[test]
    fn the_readme_provider_example_is_a_valid_configuration() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let block = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block))
            .find(|block| block.contains("[[oidc]]"))
            .expect("the README shows an [[oidc]] configuration");
        let c = config(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert_eq!(c.oidc.len(), 2, "{block}");
        assert_eq!(c.first_login, crate::identity::FirstLogin::Refuse);
        for provider in &c.oidc {
            check(provider).unwrap_or_else(|e| panic!("{}: {e}", provider.issuer));
        }
        check_unique(&c.oidc).unwrap();
        assert_eq!(c.oidc[1].role_mapping.get("lab-110bis"), Some(&Role::LabTeam));
    }

    #[test]
    fn only_keys_that_can_verify_are_kept() {
        let jwks = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/oidc/jwks.json")).unwrap();
        let keys = parse(&jwks, "test").unwrap();
        let kids: Vec<_> = keys.0.iter().filter_map(|k| k.jwk.common.key_id.as_deref()).collect();
        assert_eq!(kids, ["rsa-1", "ec-1", "ed-1", "rsa-ps", "rsa-noalg"], "the symmetric key is dropped");

        let mut value: serde_json::Value = serde_json::from_slice(&jwks).unwrap();
        let keys = value["keys"].as_array_mut().unwrap();
        keys.push(serde_json::json!({ "kty": "OKP", "crv": "X25519", "kid": "x", "x": "AAAA" }));
        keys.push(serde_json::json!({ "kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB" }));
        keys.push(serde_json::json!({ "kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": "AQAB", "e": "AQAB" }));
        keys.push(serde_json::json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB" }));
        let keys = parse(&serde_json::to_vec(&value).unwrap(), "test").unwrap();
        assert_eq!(keys.0.len(), 5, "an unreadable key, an encryption key or a key without kid is skipped alone");

        for bad in [&b"{}"[..], b"not json", br#"{"keys":[]}"#, br#"{"keys":[{"kty":"oct","kid":"k","k":"AAAA"}]}"#] {
            assert!(parse(bad, "test").is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn log_values_are_cut() {
        assert_eq!(truncated("short"), "short");
        let long = "é".repeat(200);
        assert_eq!(truncated(&long).chars().count(), 81);
    }
}
