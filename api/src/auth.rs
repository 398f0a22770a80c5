//! Who is asking (DESIGN §6). Local tokens for now: HS256 with a secret generated on first run
//! (file mode 0600), minted by `carnet token`. Production OIDC (RS256/ES256 against a JWKS) is
//! the identity issue's work and plugs in behind [`Verifier`].
//!
//! Every refusal answers the same `UNAUTHENTICATED` body; only the log says why.

use carnet_domain::person::Role;
use carnet_domain::values::AcademieCode;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// Issuer and audience of local tokens.
pub const LOCAL_ISSUER: &str = "carnet-local";
pub const AUDIENCE: &str = "carnet";
/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

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
    #[error("token names an unknown académie: {0}")]
    UnknownAcademie(String),
    #[error("the identity is linked to no person, and the first-login policy refuses it")]
    Unknown,
    /// Not the caller's fault: the people read model could not be read or written.
    #[error("cannot look the identity up: {0}")]
    Directory(String),
}

impl AuthError {
    /// Whether the server, not the token, failed (answered as an internal error, not 401).
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Directory(_))
    }
}

/// Verifies and mints local tokens.
#[derive(Clone)]
pub struct Verifier {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Verifier {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// The local secret at `path`, created (32 random bytes, mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let secret: [u8; 32] = rand::random();
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            write_private(path, hex.as_bytes())?;
            tracing::info!(path = %path.display(), "generated a local token secret");
        }
        Ok(Self::from_secret(std::fs::read(path)?.trim_ascii()))
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

    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge(token.len()));
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
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

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> Verifier {
        Verifier::from_secret(b"0123456789abcdef0123456789abcdef")
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
        ];
        for (what, token) in cases {
            assert!(v.verify(&token).await.is_err(), "{what} was accepted");
        }
    }

    #[tokio::test]
    async fn the_local_secret_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("carnet-secret-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("jwt-secret");
        let token = Verifier::load_or_create(&path).unwrap().mint("bob", &[Role::Reader], &[], 1);
        assert!(
            Verifier::load_or_create(&path).unwrap().verify(&token).await.is_ok(),
            "the same secret on the next run"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
