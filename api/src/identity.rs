//! From a bearer token to the caller (DESIGN §6): the [`TokenVerifier`] proves the token, then the
//! people read model says who that is.
//!
//! - **Local tokens** (`iss` = [`LOCAL_ISSUER`], minted by `carnet token` with the server's own
//!   secret) carry their roles and académies themselves: whoever holds the secret file runs the
//!   server anyway.
//! - **Provider tokens** (ProConnect, the ministry's OpenID Connect provider): `(iss, sub)` maps
//!   to the `Person` that identity is linked to (`linkPersonIdentity`), and the caller's roles are
//!   that person's granted roles, plus whatever the provider's configured claim mapping gives
//!   (ProConnect carries no roles, so usually nothing). An `ACADEMIE` role's territory is the
//!   union of the académies granted and mapped.
//! - **First login** of an identity linked to nobody follows [`FirstLogin`]: `refuse` (the
//!   default: an administrator registers the person and links the identity first) or
//!   `register`: the person is registered from the token's standard claims, the identity
//!   linked, and no role granted — they are authenticated and may call `me`, nothing more,
//!   until an administrator grants a role. Both commands are idempotent (their command ids
//!   derive from `(iss, sub)`), so simultaneous first requests register one person.
//!
//! **Revocation.** HTTP authenticates every request, so a role revoked is gone from the next
//! one. An open WebSocket authenticates its token again whenever an event of its person passes
//! the live feed (`crate::ws`, `LiveIdentity`), so grants, revocations, unlinked identities and
//! erasures reach it within milliseconds. Local tokens are linked to no person (their `sub` is
//! whatever the operator chose, never looked up): what they carry is what they get until their
//! `exp`; revoking them all means replacing the secret file (`jwt_secret_file`) and restarting.
//!
//! Every refusal is an [`AuthError`]: the client gets the same `UNAUTHENTICATED` answer
//! whatever the reason; the log says which.

use crate::auth::{AuthError, Identity, LOCAL_ISSUER, TokenVerifier};
use carnet_domain::person::{ExternalIdentity, Person, PersonCommand, PersonalData, Role};
use carnet_domain::values::{AcademieCode, Email, Label, PersonId};
use carnet_lab::Lab;
use carnet_projections::{ProjectionStore, person_by_identity};
use carnet_store::{Actor, CommandError, Metadata, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happens when a provider's identity is linked to no person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirstLogin {
    /// `UNAUTHENTICATED`, until an administrator links the identity to a person.
    #[default]
    Refuse,
    /// Register the person from the token's claims, with no role.
    Register,
}

/// The name a person gets when the provider sends none.
const UNNAMED: &str = "Non renseigné";

/// Turns a bearer token into an [`Identity`]; shared by HTTP and WebSocket.
#[derive(Clone)]
pub struct Authenticator {
    verifier: TokenVerifier,
    lab: Lab,
    first_login: FirstLogin,
}

impl Authenticator {
    pub fn new(verifier: TokenVerifier, lab: Lab, first_login: FirstLogin) -> Self {
        Self { verifier, lab, first_login }
    }

    /// The verifier, to mint local tokens with the server's secret.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// The caller `token` proves, or why not.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        let identity = self.verifier.verify(token).await?;
        if identity.issuer == LOCAL_ISSUER {
            return Ok(identity);
        }
        let db = self.lab.store().db();
        let person = match person_by_identity(db, &identity.issuer, &identity.sub).await.map_err(lookup_failed)? {
            Some(person) => person,
            None => match self.first_login {
                FirstLogin::Refuse => return Err(AuthError::Unknown),
                FirstLogin::Register => {
                    self.register(&identity).await?;
                    person_by_identity(self.lab.store().db(), &identity.issuer, &identity.sub)
                        .await
                        .map_err(lookup_failed)?
                        .ok_or(AuthError::Unknown)?
                }
            },
        };
        let mut identity = identity;
        for granted in &person.roles {
            identity.roles.insert(granted.role);
            if granted.role == Role::Academie {
                identity.academies.extend(granted.academies.iter().filter_map(|c| AcademieCode::from_stored(c).ok()));
            }
        }
        identity.person = Some(person.id);
        Ok(identity)
    }

    /// Registers the person of a first login and links the identity: two idempotent commands.
    async fn register(&self, identity: &Identity) -> Result<(), AuthError> {
        let key = format!("{}\u{0}{}", identity.issuer, identity.sub);
        let derive =
            |what: &str| Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("carnet:first-login:{what}:{key}").as_bytes());
        let id = derive("person");
        let metadata = |what: &str| Metadata {
            command_id: derive(what),
            correlation_id: derive("person"),
            // the person being registered, never the provider's `sub` (personal data: sealed in
            // the identity event, it must not stay in clear in the metadata)
            ..Metadata::new(Actor { id: id.to_string(), issuer: identity.issuer.clone() })
        };
        let claims = &identity.profile;
        let name = |claim: Option<&String>| {
            claim.and_then(|n| Label::parse(n).ok()).unwrap_or_else(|| Label::parse(UNNAMED).expect("a valid label"))
        };
        let profile = PersonalData {
            given_name: name(claims.given_name.as_ref()),
            usual_name: name(claims.family_name.as_ref()),
            email: claims.email.as_deref().and_then(|e| Email::parse(e).ok()),
            organisation: None,
            affiliation: None,
            academie: None,
            uai: None,
        };
        let on = chrono::Utc::now().date_naive();
        let register = PersonCommand::RegisterPerson { id: PersonId(id), profile, registered_on: on };
        let link = PersonCommand::LinkIdentity {
            identity: ExternalIdentity {
                issuer: Label::parse(&identity.issuer).map_err(|_| AuthError::Unknown)?,
                sub: Label::parse(&identity.sub).map_err(|_| AuthError::Unknown)?,
            },
        };
        for (what, command) in [("register", register), ("link", link)] {
            match self.lab.execute::<Person>(id, &command, &metadata(what), None).await {
                Ok(_) => {}
                // a simultaneous first request of the same identity got there first (the
                // person exists, the identity is linked): the lookup that follows finds it
                Err(CommandError::Rejected(r)) => tracing::debug!(rule = r.rule, "first login: already done"),
                Err(CommandError::Store(StoreError::Refused { rule, .. })) => {
                    tracing::debug!(rule, "first login: already done")
                }
                Err(e) => return Err(registration_failed(e)),
            }
        }
        tracing::info!(issuer = %identity.issuer, person = %id, "first login: person registered with no role");
        Ok(())
    }
}

fn lookup_failed(e: carnet_projections::ProjectionError) -> AuthError {
    AuthError::Directory { what: "lookup", source: Box::new(e) }
}

fn registration_failed(e: CommandError) -> AuthError {
    AuthError::Directory { what: "first-login registration", source: Box::new(e) }
}
