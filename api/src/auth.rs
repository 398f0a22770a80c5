//! Who is asking (DESIGN §6): a bearer token, verified.
//!
//! - **Local tokens**: HS256 with a secret generated on first run (file mode 0600), minted by
//!   `carnet token`, `iss` [`LOCAL_ISSUER`], `aud` [`AUDIENCE`]. They carry their roles and
//!   académies themselves.
//! - **Provider tokens** (ProConnect, the ministry's OpenID Connect provider): RS256, ES256 or
//!   EdDSA, verified against the JWKS of the provider configured for the token's `iss`
//!   ([`crate::jwks`]: file or URL, refreshed). The provider is chosen by the token's *unverified*
//!   `iss`, which the verification then requires to be that provider's. The header's `alg` must be
//!   one the provider allows (never HMAC: HS256 is for local tokens only, so an HS256 token signed
//!   with a provider's public key gets nowhere), a `kid` is required and looked up in that
//!   provider's set only (the header's `jwk`, `jku`, `x5u` and `x5c` are ignored), and the key
//!   must fit the algorithm. The returned [`Identity`] has the roles and académies of the
//!   provider's optional claim mapping (none by default: ProConnect carries no roles) and the
//!   OpenID Connect profile claims; [`crate::identity::Authenticator`] then adds the linked
//!   person's granted roles.
//! - **Both**: `exp`, `iss`, `aud` and `sub` required, `nbf` honoured, 30 s of leeway, `exp` or
//!   `nbf` as a string refused (jsonwebtoken ≥ 10.3, CVE-2026-25537), over 8 KB refused before
//!   any parsing; an issuer neither local nor configured is refused. Following RFC 8725: a
//!   header with `crit` is refused (Carnet understands no JWS extension, and RFC 7515 §4.1.11
//!   says a recipient that does not must refuse the token), so is an `iat` later than now plus
//!   the leeway (a clock gone wrong, or a token minted to outlive its `exp` checks), and an empty
//!   `sub` (nobody; `carnet token --sub ""` refuses to mint one).
//!
//! Every refusal answers the same `UNAUTHENTICATED` body; only the log says why ([`AuthError`]).

use crate::jwks::{KeyError, OidcAlgorithm, OidcProvider, Provider, truncated};
use carnet_domain::person::Role;
use carnet_domain::values::AcademieCode;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// Issuer and audience of local tokens.
pub const LOCAL_ISSUER: &str = "carnet-local";
pub const AUDIENCE: &str = "carnet";
/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: i64,
    iat: i64,
    #[serde(default)]
    roles: Vec<Role>,
    #[serde(default)]
    academies: Vec<String>,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Opaque subject, as the issuer gives it.
    pub sub: String,
    pub issuer: String,
    pub roles: BTreeSet<Role>,
    /// The territory of an `ACADEMIE` caller.
    pub academies: BTreeSet<AcademieCode>,
    /// The person this identity is linked to, once [`crate::identity::Authenticator`] found it;
    /// `None` for local tokens, which carry their roles themselves.
    pub person: Option<uuid::Uuid>,
    /// What the provider says of the person (OpenID Connect standard claims), to register them
    /// on first login when the policy allows it.
    pub profile: ProfileClaims,
}

/// The OpenID Connect standard claims Carnet reads, when the provider sends them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ProfileClaims {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("token too large ({0} bytes)")]
    TooLarge(usize),
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("no provider is configured for the issuer {0:?}")]
    UnknownIssuer(String),
    #[error("algorithm {alg:?} is not allowed for {issuer}")]
    Algorithm { issuer: String, alg: Algorithm },
    #[error("the token names no key (kid)")]
    MissingKid,
    #[error("key {kid:?} is not in the JWKS of {issuer}")]
    UnknownKid { issuer: String, kid: String },
    #[error("key {kid:?} of {issuer} does not fit {alg:?} (its alg or its type)")]
    KeyMismatch { issuer: String, kid: String, alg: Algorithm },
    #[error("claim {0} is missing or not a string")]
    Claim(&'static str),
    #[error("the header names critical extensions ({0}), which Carnet does not understand")]
    CriticalHeader(String),
    #[error("the token was issued in the future (iat {0})")]
    IssuedInFuture(i64),
    #[error("token names an unknown académie: {0}")]
    UnknownAcademie(String),
    #[error("the identity is linked to no person, and the first-login policy refuses it")]
    Unknown,
    /// Not the caller's fault: the people read model could not be read or written.
    /// Its cause is kept, so that an unreachable database answers 503 `UNAVAILABLE`.
    #[error("cannot look the identity up ({what})")]
    Directory {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AuthError {
    /// Whether the server, not the token, failed (answered as an internal error, not 401).
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Directory { .. })
    }
}

/// Verifies local and provider tokens, and mints local ones.
#[derive(Clone)]
pub struct TokenVerifier {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The configured OpenID Connect providers, each with its keys.
    providers: Arc<[Arc<Provider>]>,
}

impl TokenVerifier {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            providers: Arc::new([]),
        }
    }

    /// The local secret at `path`, created (32 random bytes, mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                carnet_store::private_files::create_private_dir(dir)?;
            }
            let secret: [u8; 32] = rand::random();
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            write_private(path, hex.as_bytes())?;
            tracing::info!(path = %path.display(), "generated a local token secret");
        }
        Ok(Self::from_secret(std::fs::read(path)?.trim_ascii()))
    }

    /// This verifier, accepting the tokens of `providers` too. Fails on a configuration mistake
    /// or a JWKS file that cannot be used; a JWKS URL that does not answer is only logged (see
    /// [`crate::jwks`]). Each provider's keys are then refreshed in the background, for as long
    /// as a clone of this verifier lives.
    pub async fn with_oidc(self, providers: &[OidcProvider]) -> anyhow::Result<Self> {
        crate::jwks::check_unique(providers)?;
        let mut started = Vec::with_capacity(providers.len());
        for config in providers {
            started.push(Provider::start(config.clone()).await?);
        }
        Ok(Self { providers: started.into(), ..self })
    }

    /// Reads every provider's JWKS again now (the background task does it every
    /// `refresh_seconds`); the first error, if any, after trying them all.
    pub async fn refresh_keys(&self) -> Result<(), crate::jwks::JwksError> {
        let mut first_error = None;
        for provider in self.providers.iter() {
            if let Err(e) = provider.refresh().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub fn mint(&self, sub: &str, roles: &[Role], academies: &[AcademieCode], hours: i64) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            iss: LOCAL_ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + hours * 3600,
            roles: roles.to_vec(),
            academies: academies.iter().map(|a| a.as_str().to_owned()).collect(),
        };
        // HS256 over a serializable struct cannot fail
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("encode a local token")
    }

    /// The identity `token` proves, or why it proves nothing.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge(token.len()));
        }
        refuse_critical_header(token)?;
        // the unverified issuer only chooses how to verify; each way requires that issuer
        let issuer = unverified_issuer(token)?;
        if issuer == LOCAL_ISSUER {
            return self.verify_local(token);
        }
        match self.providers.iter().find(|p| p.config.issuer == issuer) {
            Some(provider) => verify_provider(provider, token).await,
            None => Err(AuthError::UnknownIssuer(truncated(&issuer))),
        }
    }

    fn verify_local(&self, token: &str) -> Result<Identity, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        if claims.sub.is_empty() {
            return Err(AuthError::Claim("sub"));
        }
        refuse_future_iat(Some(claims.iat))?;
        let academies = claims
            .academies
            .iter()
            .map(|c| AcademieCode::from_stored(c).map_err(|_| AuthError::UnknownAcademie(c.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Identity {
            sub: claims.sub,
            issuer: claims.iss,
            roles: claims.roles.into_iter().collect(),
            academies,
            person: None,
            profile: ProfileClaims::default(),
        })
    }
}

/// Refuses a token whose header has `crit` (RFC 7515 §4.1.11: a recipient that does not
/// understand a listed extension must refuse it, and Carnet understands none), before the
/// signature is even looked at. jsonwebtoken's `Header` does not read `crit`, hence this look
/// at the raw header.
fn refuse_critical_header(token: &str) -> Result<(), AuthError> {
    use base64::Engine;
    let Some(header) = token.split('.').next() else { return Ok(()) };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')) else {
        // not base64: the verification refuses it with its own reason
        return Ok(());
    };
    let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&bytes) else { return Ok(()) };
    match header.get("crit") {
        None => Ok(()),
        Some(crit) => Err(AuthError::CriticalHeader(truncated(&crit.to_string()))),
    }
}

/// Refuses an `iat` later than now plus the leeway.
fn refuse_future_iat(iat: Option<i64>) -> Result<(), AuthError> {
    match iat {
        Some(iat) if iat > Utc::now().timestamp() + LEEWAY_SECONDS as i64 => Err(AuthError::IssuedInFuture(iat)),
        _ => Ok(()),
    }
}

/// The `iss` of a token whose signature is not checked yet.
fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    Ok(jsonwebtoken::dangerous::insecure_decode::<Issuer>(token)?.claims.iss)
}

async fn verify_provider(provider: &Provider, token: &str) -> Result<Identity, AuthError> {
    let config = &provider.config;
    let header = jsonwebtoken::decode_header(token)?;
    let alg = OidcAlgorithm::from_algorithm(header.alg)
        .filter(|a| config.algorithms.contains(a))
        .ok_or_else(|| AuthError::Algorithm { issuer: config.issuer.clone(), alg: header.alg })?;
    let kid = header.kid.as_deref().ok_or(AuthError::MissingKid)?;
    let key = provider.key(kid, alg).await.map_err(|e| {
        let (issuer, kid) = (config.issuer.clone(), truncated(kid));
        match e {
            KeyError::Unknown => AuthError::UnknownKid { issuer, kid },
            KeyError::Mismatch => AuthError::KeyMismatch { issuer, kid, alg: header.alg },
        }
    })?;
    let mut validation = Validation::new(alg.algorithm());
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)?.claims;

    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let sub = text("sub").filter(|s| !s.is_empty()).ok_or(AuthError::Claim("sub"))?;
    refuse_future_iat(claims.get("iat").and_then(Value::as_i64))?;
    let roles = match &config.roles_claim {
        Some(name) => strings(&claims, name).iter().filter_map(|v| config.role_mapping.get(v).copied()).collect(),
        None => BTreeSet::new(),
    };
    let academies = match &config.academies_claim {
        Some(name) => strings(&claims, name)
            .iter()
            .filter_map(|code| {
                let parsed = AcademieCode::from_stored(code).ok();
                if parsed.is_none() {
                    tracing::warn!(issuer = %config.issuer, code = %truncated(code), "token names an unknown académie: ignored");
                }
                parsed
            })
            .collect(),
        None => BTreeSet::new(),
    };
    Ok(Identity {
        sub,
        issuer: config.issuer.clone(),
        roles,
        academies,
        person: None,
        profile: ProfileClaims {
            given_name: text("given_name"),
            // ProConnect calls the family name `usual_name`
            family_name: text("family_name").or_else(|| text("usual_name")),
            email: text("email"),
        },
    })
}

/// A claim that is a string or an array of strings (other values count for nothing); `a.b`
/// reads claim `b` of object claim `a` when no claim is named `a.b` itself.
fn strings(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    let value = claims.get(name).or_else(|| {
        let mut parts = name.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.get(part))
    });
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => vec![],
    }
}

/// Creates `path` (which must not exist) readable by its owner only, holding `bytes`.
#[cfg(unix)]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> TokenVerifier {
        TokenVerifier::from_secret(b"0123456789abcdef0123456789abcdef")
    }

    fn forge(header: &str, claims: serde_json::Value, key: &[u8]) -> String {
        let h = base64_url(header.as_bytes());
        let c = base64_url(claims.to_string().as_bytes());
        let signature =
            jsonwebtoken::crypto::sign(format!("{h}.{c}").as_bytes(), &EncodingKey::from_secret(key), Algorithm::HS256)
                .unwrap();
        format!("{h}.{c}.{signature}")
    }

    fn base64_url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    fn claims(exp: serde_json::Value) -> serde_json::Value {
        serde_json::json!({ "sub": "x", "iss": LOCAL_ISSUER, "aud": AUDIENCE, "exp": exp, "iat": 0, "roles": ["ADMIN"] })
    }

    #[tokio::test]
    async fn a_minted_token_verifies_to_its_identity() {
        let v = verifier();
        let token = v.mint("alice", &[Role::Academie], &[AcademieCode::parse("01").unwrap()], 1);
        let id = v.verify(&token).await.unwrap();
        assert_eq!(id.sub, "alice");
        assert_eq!(id.roles, BTreeSet::from([Role::Academie]));
        assert_eq!(id.academies, BTreeSet::from([AcademieCode::parse("01").unwrap()]));
    }

    #[tokio::test]
    async fn bad_tokens_are_refused() {
        let v = verifier();
        let key = b"0123456789abcdef0123456789abcdef";
        let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
        let future = Utc::now().timestamp() + 3600;
        assert!(v.verify(&forge(hs, claims(future.into()), key)).await.is_ok(), "the forging helper itself works");
        let cases = [
            ("expired", forge(hs, claims((Utc::now().timestamp() - 3600).into()), key)),
            ("exp as a string (CVE-2026-25537)", forge(hs, claims(serde_json::json!("99999999999")), key)),
            ("bad signature", forge(hs, claims(future.into()), b"another secret, another signature")),
            (
                "alg none",
                format!(
                    "{}.{}.",
                    base64_url(br#"{"alg":"none"}"#),
                    base64_url(claims(future.into()).to_string().as_bytes())
                ),
            ),
            (
                "wrong audience",
                forge(hs, serde_json::json!({"sub":"x","iss":LOCAL_ISSUER,"aud":"other","exp":future}), key),
            ),
            ("wrong issuer", forge(hs, serde_json::json!({"sub":"x","iss":"evil","aud":AUDIENCE,"exp":future}), key)),
            ("no exp", forge(hs, serde_json::json!({"sub":"x","iss":LOCAL_ISSUER,"aud":AUDIENCE}), key)),
            ("100 KB", "a".repeat(100 * 1024)),
            ("garbage", "not.a.token".into()),
            ("an unknown crit header", forge(r#"{"alg":"HS256","crit":["b64"]}"#, claims(future.into()), key)),
            (
                "an iat in the future",
                forge(
                    hs,
                    serde_json::json!({"sub":"x","iss":LOCAL_ISSUER,"aud":AUDIENCE,"exp":future,"iat":future}),
                    key,
                ),
            ),
            (
                "an empty sub",
                forge(hs, serde_json::json!({"sub":"","iss":LOCAL_ISSUER,"aud":AUDIENCE,"exp":future,"iat":0}), key),
            ),
        ];
        for (what, token) in cases {
            assert!(v.verify(&token).await.is_err(), "{what} was accepted");
        }
    }

    #[tokio::test]
    async fn the_local_secret_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("carnet-secret-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("jwt-secret");
        let token = TokenVerifier::load_or_create(&path).unwrap().mint("bob", &[Role::Reader], &[], 1);
        assert!(
            TokenVerifier::load_or_create(&path).unwrap().verify(&token).await.is_ok(),
            "the same secret on the next run"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    // ---- OpenID Connect providers, against the committed test-only keys (tests/fixtures/oidc)

    use crate::jwks::{OidcAlgorithm, OidcProvider};
    use jsonwebtoken::jwk::{Jwk, JwkSet};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/oidc");
    const ISSUER: &str = "https://idp.example.gouv.fr/api/v2";
    const CLIENT: &str = "carnet-front";

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The DER inside a PEM fixture (jsonwebtoken is built without its PEM feature).
    fn der(name: &str) -> Vec<u8> {
        use base64::Engine;
        let pem = String::from_utf8(fixture(name)).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(body).unwrap()
    }

    fn private_key(alg: Algorithm) -> EncodingKey {
        match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_der(&der("rsa.pem")),
            Algorithm::ES256 => EncodingKey::from_ec_der(&der("ec.pem")),
            Algorithm::EdDSA => EncodingKey::from_ed_der(&der("ed25519.pem")),
            other => panic!("no fixture key for {other:?}"),
        }
    }

    fn sign(alg: Algorithm, kid: Option<&str>, claims: &serde_json::Value, key: &EncodingKey) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    /// A token of the fixture provider, signed with the fixture key of `alg` under `kid`.
    fn provider_token(alg: Algorithm, kid: &str, claims: &serde_json::Value) -> String {
        sign(alg, Some(kid), claims, &private_key(alg))
    }

    fn now() -> i64 {
        Utc::now().timestamp()
    }

    /// What ProConnect's ID token carries (`usual_name`), plus claims a mapping may read.
    fn provider_claims() -> serde_json::Value {
        json!({
            "sub": "agent-7f3a", "iss": ISSUER, "aud": CLIENT, "exp": now() + 3600, "iat": now(),
            "given_name": "Camille", "usual_name": "Durand", "email": "camille.durand@example.org",
            "groups": ["lab", "staff"], "academies": ["24", "99"],
            "realm_access": { "roles": ["lab"] }
        })
    }

    fn with(mut claims: serde_json::Value, changes: serde_json::Value) -> serde_json::Value {
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn fixture_provider() -> OidcProvider {
        OidcProvider {
            issuer: ISSUER.into(),
            audience: CLIENT.into(),
            jwks_file: Some(format!("{FIXTURES}/jwks.json")),
            ..Default::default()
        }
    }

    async fn verifier_with(providers: &[OidcProvider]) -> TokenVerifier {
        verifier().with_oidc(providers).await.expect("providers set up")
    }

    #[tokio::test]
    async fn provider_tokens_of_each_algorithm_verify_to_their_identity() {
        let v = verifier_with(&[fixture_provider()]).await;
        for (alg, kid) in [
            (Algorithm::RS256, "rsa-1"),
            (Algorithm::ES256, "ec-1"),
            (Algorithm::EdDSA, "ed-1"),
            (Algorithm::RS256, "rsa-noalg"),
        ] {
            let id = v
                .verify(&provider_token(alg, kid, &provider_claims()))
                .await
                .unwrap_or_else(|e| panic!("{alg:?} {kid}: {e}"));
            assert_eq!((id.sub.as_str(), id.issuer.as_str()), ("agent-7f3a", ISSUER), "{alg:?}");
            assert!(id.roles.is_empty() && id.academies.is_empty(), "no claim mapping, no role: {id:?}");
            assert_eq!(id.person, None, "the people read model says who that is, not the verifier");
            assert_eq!(
                id.profile,
                ProfileClaims {
                    given_name: Some("Camille".into()),
                    family_name: Some("Durand".into()),
                    email: Some("camille.durand@example.org".into()),
                },
                "ProConnect's usual_name is the family name"
            );
        }
        let both = with(provider_claims(), json!({ "family_name": "Durand-Martin" }));
        let id = v.verify(&provider_token(Algorithm::ES256, "ec-1", &both)).await.unwrap();
        assert_eq!(id.profile.family_name.as_deref(), Some("Durand-Martin"), "family_name first");

        let lenient = [
            ("an audience list naming Carnet", json!({ "aud": ["another-app", CLIENT] })),
            ("nbf within the leeway", json!({ "nbf": now() + 10 })),
            ("exp just past, within the leeway", json!({ "exp": now() - 10 })),
            ("no profile claims", json!({ "given_name": null, "usual_name": null, "email": null })),
        ];
        for (what, changes) in lenient {
            let token = provider_token(Algorithm::RS256, "rsa-1", &with(provider_claims(), changes));
            assert!(v.verify(&token).await.is_ok(), "{what} was refused");
        }
        let local = v.mint("alice", &[Role::Auditor], &[], 1);
        assert_eq!(v.verify(&local).await.unwrap().roles, BTreeSet::from([Role::Auditor]), "local tokens still work");
    }

    #[tokio::test]
    async fn a_provider_claim_mapping_gives_roles_and_academies() {
        let mapped = OidcProvider {
            roles_claim: Some("groups".into()),
            role_mapping: [("lab".to_owned(), Role::LabTeam), ("rectorat".to_owned(), Role::Academie)].into(),
            academies_claim: Some("academies".into()),
            ..fixture_provider()
        };
        let v = verifier_with(std::slice::from_ref(&mapped)).await;
        let id = v.verify(&provider_token(Algorithm::RS256, "rsa-1", &provider_claims())).await.unwrap();
        assert_eq!(id.roles, BTreeSet::from([Role::LabTeam]), "unmapped values give nothing");
        assert_eq!(id.academies, BTreeSet::from([AcademieCode::parse("24").unwrap()]), "unknown codes are ignored");

        let single = with(provider_claims(), json!({ "groups": "rectorat", "academies": "01" }));
        let id = v.verify(&provider_token(Algorithm::EdDSA, "ed-1", &single)).await.unwrap();
        assert_eq!(id.roles, BTreeSet::from([Role::Academie]), "a string claim counts as one value");
        assert_eq!(id.academies, BTreeSet::from([AcademieCode::parse("01").unwrap()]));

        let not_strings = with(provider_claims(), json!({ "groups": { "lab": true }, "academies": 24 }));
        let id = v.verify(&provider_token(Algorithm::RS256, "rsa-1", &not_strings)).await.unwrap();
        assert!(id.roles.is_empty() && id.academies.is_empty(), "{id:?}");

        let nested = OidcProvider { roles_claim: Some("realm_access.roles".into()), ..mapped };
        let v = verifier_with(&[nested]).await;
        let id = v.verify(&provider_token(Algorithm::RS256, "rsa-1", &provider_claims())).await.unwrap();
        assert_eq!(id.roles, BTreeSet::from([Role::LabTeam]), "a nested claim, Keycloak style");
    }

    #[tokio::test]
    async fn bad_provider_tokens_are_refused_each_for_its_reason() {
        // a second provider, whose JWKS holds the EC key only
        let dir = std::env::temp_dir().join(format!("carnet-jwks-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut only_ec: JwkSet = serde_json::from_slice(&fixture("jwks.json")).unwrap();
        only_ec.keys.retain(|k| k.common.key_id.as_deref() == Some("ec-1"));
        let other_jwks = dir.join("jwks.json");
        std::fs::write(&other_jwks, serde_json::to_vec(&only_ec).unwrap()).unwrap();
        const OTHER: &str = "https://other-idp.example.gouv.fr";
        let other = OidcProvider {
            issuer: OTHER.into(),
            jwks_file: Some(other_jwks.display().to_string()),
            ..fixture_provider()
        };
        // and a third, with the fixture's keys but RS256 only
        const RS_ONLY: &str = "https://rs-only.example.gouv.fr";
        let rs_only =
            OidcProvider { issuer: RS_ONLY.into(), algorithms: vec![OidcAlgorithm::RS256], ..fixture_provider() };
        let v = verifier_with(&[fixture_provider(), other, rs_only]).await;
        let es_for_rs_only =
            provider_token(Algorithm::ES256, "ec-1", &with(provider_claims(), json!({ "iss": RS_ONLY })));
        assert!(
            verifier_with(&[fixture_provider(), OidcProvider { issuer: RS_ONLY.into(), ..fixture_provider() }])
                .await
                .verify(&es_for_rs_only)
                .await
                .is_ok(),
            "that token is refused for its algorithm only"
        );

        let good = provider_claims();
        let rs = |claims: &serde_json::Value| provider_token(Algorithm::RS256, "rsa-1", claims);
        let rsa_public_pem = EncodingKey::from_secret(&fixture("rsa-public.pem"));
        let oct = EncodingKey::from_secret(b"a symmetric key has no place in a JWKS");
        let forger = EncodingKey::from_rsa_der(&der("rsa-other.pem"));
        let raw = |header: serde_json::Value, claims: &serde_json::Value, signature: &str| {
            format!(
                "{}.{}.{signature}",
                base64_url(header.to_string().as_bytes()),
                base64_url(claims.to_string().as_bytes())
            )
        };
        assert!(v.verify(&rs(&good)).await.is_ok(), "the table's tokens differ from an accepted one");

        let cases: Vec<(&str, String, &str)> = vec![
            (
                "bad signature (another RSA key)",
                sign(Algorithm::RS256, Some("rsa-1"), &good, &forger),
                "InvalidSignature",
            ),
            (
                "bad signature (tampered claims)",
                {
                    let token = rs(&good);
                    let forged = rs(&with(good.clone(), json!({ "sub": "admin" })));
                    let (head, signature) = (forged.rsplit_once('.').unwrap().0, token.rsplit_once('.').unwrap().1);
                    format!("{head}.{signature}")
                },
                "InvalidSignature",
            ),
            ("an algorithm not configured (ES256, RS256 only)", es_for_rs_only, "Algorithm {"),
            ("alg none", raw(json!({ "alg": "none", "kid": "rsa-1" }), &good, ""), "Invalid("),
            (
                "HS/RS confusion (HS256 keyed with the RSA public key PEM)",
                sign(Algorithm::HS256, Some("rsa-1"), &good, &rsa_public_pem),
                "Algorithm {",
            ),
            ("HS256 with the JWKS's symmetric key", sign(Algorithm::HS256, Some("oct-1"), &good, &oct), "Algorithm {"),
            ("unknown kid", provider_token(Algorithm::RS256, "rsa-9", &good), "UnknownKid"),
            ("missing kid", sign(Algorithm::RS256, None, &good, &private_key(Algorithm::RS256)), "MissingKid"),
            ("expired", rs(&with(good.clone(), json!({ "exp": now() - 120 }))), "ExpiredSignature"),
            ("not yet valid", rs(&with(good.clone(), json!({ "nbf": now() + 120 }))), "ImmatureSignature"),
            ("wrong iss", rs(&with(good.clone(), json!({ "iss": "https://evil.example" }))), "UnknownIssuer"),
            (
                "iss with a trailing slash",
                rs(&with(good.clone(), json!({ "iss": format!("{ISSUER}/") }))),
                "UnknownIssuer",
            ),
            ("wrong aud", rs(&with(good.clone(), json!({ "aud": "another-app" }))), "InvalidAudience"),
            ("no aud", rs(&with(good.clone(), json!({ "aud": null }))), "MissingRequiredClaim"),
            ("no exp", rs(&with(good.clone(), json!({ "exp": null }))), "MissingRequiredClaim"),
            ("no sub", rs(&with(good.clone(), json!({ "sub": null }))), "MissingRequiredClaim"),
            ("an empty sub", rs(&with(good.clone(), json!({ "sub": "" }))), "Claim(\"sub\")"),
            ("an iat in the future", rs(&with(good.clone(), json!({ "iat": now() + 3600 }))), "IssuedInFuture"),
            (
                "an unknown crit header",
                raw(json!({ "alg": "RS256", "kid": "rsa-1", "crit": ["exp-ext"] }), &good, "c2ln"),
                "CriticalHeader",
            ),
            ("exp as a string (CVE-2026-25537)", rs(&with(good.clone(), json!({ "exp": "99999999999" }))), "Invalid("),
            ("nbf as a string", rs(&with(good.clone(), json!({ "nbf": "99999999999" }))), "Invalid("),
            ("100 KB", rs(&with(good.clone(), json!({ "padding": "x".repeat(100 * 1024) }))), "TooLarge"),
            (
                "JWK alg mismatch (rsa-ps is published for PS256)",
                provider_token(Algorithm::RS256, "rsa-ps", &good),
                "KeyMismatch",
            ),
            (
                "key type mismatch (an EdDSA signature under an RSA kid with no alg)",
                sign(Algorithm::EdDSA, Some("rsa-noalg"), &good, &private_key(Algorithm::EdDSA)),
                "KeyMismatch",
            ),
            (
                "another provider's kid (rsa-1 is not in its JWKS)",
                rs(&with(good.clone(), json!({ "iss": OTHER }))),
                "UnknownKid",
            ),
            (
                "the local issuer with an RS256 signature",
                rs(&with(good.clone(), json!({ "iss": LOCAL_ISSUER, "aud": AUDIENCE }))),
                "InvalidAlgorithm",
            ),
            ("garbage", "not.a.token".into(), "Invalid("),
        ];
        for (what, token, reason) in cases {
            match v.verify(&token).await {
                Ok(id) => panic!("{what} was accepted: {id:?}"),
                Err(e) => assert!(format!("{e:?}").contains(reason), "{what}: refused, but for {e:?}, not {reason}"),
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn provider_configuration_mistakes_stop_the_start() {
        let cases = [
            (
                "both a file and a URL",
                OidcProvider { jwks_url: Some("https://idp.example/jwks".into()), ..fixture_provider() },
            ),
            ("neither a file nor a URL", OidcProvider { jwks_file: None, ..fixture_provider() }),
            ("a missing file", OidcProvider { jwks_file: Some(format!("{FIXTURES}/nope.json")), ..fixture_provider() }),
            (
                "a file that is no JWKS",
                OidcProvider { jwks_file: Some(format!("{FIXTURES}/README.md")), ..fixture_provider() },
            ),
            (
                "keys over plain HTTP from another host",
                OidcProvider {
                    jwks_file: None,
                    jwks_url: Some("http://idp.example/jwks".into()),
                    ..fixture_provider()
                },
            ),
            ("the local issuer", OidcProvider { issuer: LOCAL_ISSUER.into(), ..fixture_provider() }),
            ("no algorithm", OidcProvider { algorithms: vec![], ..fixture_provider() }),
            ("no audience", OidcProvider { audience: String::new(), ..fixture_provider() }),
            (
                "a role mapping without its claim",
                OidcProvider { role_mapping: [("lab".to_owned(), Role::LabTeam)].into(), ..fixture_provider() },
            ),
        ];
        for (what, provider) in cases {
            assert!(verifier().with_oidc(&[provider]).await.is_err(), "{what} was accepted");
        }
        let twice = verifier().with_oidc(&[fixture_provider(), fixture_provider()]).await;
        assert!(twice.is_err_and(|e| e.to_string().contains("twice")));
    }

    /// A JWKS endpoint on 127.0.0.1 that counts its requests; `None` answers 503.
    struct JwksServer {
        url: String,
        hits: Arc<AtomicUsize>,
        body: Arc<Mutex<Option<String>>>,
    }

    impl JwksServer {
        async fn start(body: Option<String>) -> Self {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/jwks", listener.local_addr().unwrap());
            let (hits, body) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(body)));
            let (h, b) = (hits.clone(), body.clone());
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let (hits, body) = (h.clone(), b.clone());
                    tokio::spawn(async move {
                        let (mut request, mut buf) = (Vec::new(), [0u8; 1024]);
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        hits.fetch_add(1, Ordering::SeqCst);
                        let current = body.lock().unwrap().clone();
                        let response = match current {
                            Some(json) => format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                                json.len()
                            ),
                            None => {
                                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                                    .into()
                            }
                        };
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    });
                }
            });
            Self { url, hits, body }
        }

        fn serve(&self, jwks: Option<String>) {
            *self.body.lock().unwrap() = jwks;
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }

        fn provider(&self, refresh_seconds: u64) -> OidcProvider {
            OidcProvider { jwks_file: None, jwks_url: Some(self.url.clone()), refresh_seconds, ..fixture_provider() }
        }
    }

    /// The fixture's `rsa-1` and/or the rotated-in `rsa-2` (the key of `rsa-other.pem`).
    fn rsa_jwks(kids: &[&str]) -> String {
        let fixture: JwkSet = serde_json::from_slice(&fixture("jwks.json")).unwrap();
        let rsa1 = fixture.find("rsa-1").unwrap().clone();
        let mut rsa2 =
            Jwk::from_encoding_key(&EncodingKey::from_rsa_der(&der("rsa-other.pem")), Algorithm::RS256).unwrap();
        rsa2.common.key_id = Some("rsa-2".into());
        let keys = [rsa1, rsa2].into_iter().filter(|k| kids.contains(&k.common.key_id.as_deref().unwrap())).collect();
        serde_json::to_string(&JwkSet { keys }).unwrap()
    }

    fn rotated_token() -> String {
        sign(Algorithm::RS256, Some("rsa-2"), &provider_claims(), &EncodingKey::from_rsa_der(&der("rsa-other.pem")))
    }

    async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !done().await {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_rotated_key_is_fetched_on_demand_and_a_removed_one_refused_after_refresh() {
        let server = JwksServer::start(Some(rsa_jwks(&["rsa-1"]))).await;
        let v = verifier_with(&[server.provider(3600)]).await;
        assert_eq!(server.hits(), 1, "fetched at start");
        let old = provider_token(Algorithm::RS256, "rsa-1", &provider_claims());
        assert!(v.verify(&old).await.is_ok());
        assert_eq!(server.hits(), 1, "known kids cost no request");

        server.serve(Some(rsa_jwks(&["rsa-1", "rsa-2"])));
        let id = v.verify(&rotated_token()).await.expect("the new key, fetched when a token first names it");
        assert_eq!(id.sub, "agent-7f3a");
        assert_eq!(server.hits(), 2, "one fetch for the unknown kid");

        server.serve(Some(rsa_jwks(&["rsa-2"])));
        assert!(v.verify(&old).await.is_ok(), "a removed key works until the set is read again");
        v.refresh_keys().await.expect("refreshed");
        assert_eq!(server.hits(), 3);
        let refused = v.verify(&old).await.expect_err("the removed key's token");
        assert!(matches!(refused, AuthError::UnknownKid { .. }), "{refused:?}");
        assert_eq!(server.hits(), 3, "within a minute of the last on-demand fetch: no request");
        assert!(v.verify(&rotated_token()).await.is_ok(), "the current key still works");
    }

    #[tokio::test]
    async fn random_kids_cost_the_provider_one_request_a_minute() {
        let server = JwksServer::start(Some(rsa_jwks(&["rsa-1"]))).await;
        let v = verifier_with(&[server.provider(3600)]).await;
        assert_eq!(server.hits(), 1);
        let flood: Vec<_> = (0..50)
            .map(|i| {
                provider_token(Algorithm::RS256, &format!("random-{i}-{}", uuid::Uuid::new_v4()), &provider_claims())
            })
            .collect();
        let results = futures::future::join_all(flood.iter().map(|t| v.verify(t))).await;
        assert!(results.iter().all(|r| matches!(r, Err(AuthError::UnknownKid { .. }))), "{results:?}");
        assert_eq!(server.hits(), 2, "50 concurrent unknown kids: one fetch");
        for token in &flood {
            assert!(v.verify(token).await.is_err());
        }
        assert_eq!(server.hits(), 2, "and none more within the minute");
        assert!(v.verify(&provider_token(Algorithm::RS256, "rsa-1", &provider_claims())).await.is_ok());
    }

    #[tokio::test]
    async fn keys_are_read_again_in_the_background() {
        let server = JwksServer::start(Some(rsa_jwks(&["rsa-1"]))).await;
        let v = verifier_with(&[server.provider(1)]).await;
        let old = provider_token(Algorithm::RS256, "rsa-1", &provider_claims());
        assert!(v.verify(&old).await.is_ok());
        server.serve(Some(rsa_jwks(&["rsa-2"])));
        let before = server.hits();
        wait_until("a background refresh", async || server.hits() > before).await;
        wait_until("the removed key to be refused", async || v.verify(&old).await.is_err()).await;
        assert!(v.verify(&rotated_token()).await.is_ok());
    }

    #[tokio::test]
    async fn a_jwks_url_down_at_start_refuses_its_tokens_until_it_answers() {
        let server = JwksServer::start(None).await;
        let v = verifier_with(&[server.provider(1)]).await;
        assert_eq!(server.hits(), 1, "tried at start, and the start went on");
        let token = provider_token(Algorithm::RS256, "rsa-1", &provider_claims());
        assert!(matches!(v.verify(&token).await, Err(AuthError::UnknownKid { .. })));
        assert!(v.verify(&v.mint("alice", &[Role::Admin], &[], 1)).await.is_ok(), "local tokens work meanwhile");
        server.serve(Some(rsa_jwks(&["rsa-1"])));
        wait_until("the provider's keys", async || v.verify(&token).await.is_ok()).await;
    }
}
