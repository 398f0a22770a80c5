//! Development only: the local tokens `carnet serve` prints at start, one per role, and the
//! one its GraphiQL page puts in the Authorization header, so that a front-end developer's
//! first query works without copying a token (DESIGN §7, "the front end's first hour").
//!
//! - Each role's token has its own subject (`demo-lab-team`, `demo-academie`…): the access
//!   log, the events' actors and the rate limiter tell the roles apart.
//! - GraphiQL is given the `LAB_TEAM` token as its default headers, and keeps the headers in
//!   the browser (GraphiQL's `shouldPersistHeaders`, in `localStorage`): a reload keeps them,
//!   whatever the developer typed there. The tokens are minted once per start, for 12 hours.
//! - Never in production: [`DevTokens::for_config`] is `None` there, and the page carries no
//!   token and persists no header, even with GraphiQL turned on.

use crate::auth::TokenVerifier;
use crate::config::{Config, Profile};
use carnet_domain::person::Role;
use carnet_domain::values::AcademieCode;

/// How long the printed tokens last, in hours.
pub const HOURS: i64 = 12;

/// The académie of the `ACADEMIE` token: Paris.
const ACADEMIE: &str = "01";

/// One local token per role, minted at start.
#[derive(Clone, Debug)]
pub struct DevTokens(Vec<(Role, String)>);

impl DevTokens {
    /// The tokens, in the development profile only.
    pub fn for_config(config: &Config, verifier: &TokenVerifier) -> Option<Self> {
        (config.profile == Profile::Development).then(|| Self::mint(verifier))
    }

    fn mint(verifier: &TokenVerifier) -> Self {
        let paris = AcademieCode::parse(ACADEMIE).expect("Paris is an académie");
        let tokens = Role::ALL
            .into_iter()
            .map(|role| {
                let academies: &[AcademieCode] =
                    if role == Role::Academie { std::slice::from_ref(&paris) } else { &[] };
                (role, verifier.mint(&subject(role), &[role], academies, HOURS))
            })
            .collect();
        Self(tokens)
    }

    /// Each role and its token, in `Role::ALL` order.
    pub fn iter(&self) -> impl Iterator<Item = &(Role, String)> {
        self.0.iter()
    }

    /// The token GraphiQL pre-fills.
    pub fn lab_team(&self) -> &str {
        self.0.iter().find(|(role, _)| *role == Role::LabTeam).map(|(_, token)| token.as_str()).unwrap_or_default()
    }
}

/// The subject of a role's demo token: `demo-` and the role's code (`demo-lab-team`).
pub fn subject(role: Role) -> String {
    let code = serde_json::to_value(role).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    format!("demo-{}", code.to_ascii_lowercase().replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_has_its_own_subject() {
        let subjects: std::collections::BTreeSet<String> = Role::ALL.into_iter().map(subject).collect();
        assert_eq!(subjects.len(), Role::ALL.len());
        assert!(subjects.contains("demo-lab-team") && subjects.contains("demo-academie"), "{subjects:?}");
    }
}
