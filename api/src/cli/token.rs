//! `carnet token`: mint a local token (HS256, signed with the local secret), for a role, its
//! académies and a subject.

use anyhow::Context;
use carnet_api::auth::TokenVerifier;
use carnet_api::config::Config;
use carnet_domain::person::Role;
use carnet_domain::values::AcademieCode;
use std::path::Path;

#[derive(clap::Args)]
pub struct Args {
    /// LAB_TEAM, ACADEMIE, AUDITOR, READER or ADMIN.
    #[arg(long)]
    role: String,
    /// An académie code of the caller's territory (repeatable; required for ACADEMIE).
    #[arg(long)]
    academie: Vec<String>,
    /// The subject: an opaque id of the person.
    #[arg(long, default_value = "local-user")]
    sub: String,
    #[arg(long, default_value_t = 12)]
    hours: i64,
}

pub fn run(config: &Config, Args { role, academie, sub, hours }: Args) -> anyhow::Result<()> {
    let role = Role::ALL
        .into_iter()
        .find(|r| serde_json::to_value(r).is_ok_and(|v| v == role.as_str()))
        .with_context(|| format!("unknown role {role}: LAB_TEAM, ACADEMIE, AUDITOR, READER or ADMIN"))?;
    let academies = academie.iter().map(|a| AcademieCode::parse(a)).collect::<Result<Vec<_>, _>>()?;
    if (role == Role::Academie) == academies.is_empty() {
        anyhow::bail!("--academie is required for ACADEMIE, and only for it");
    }
    if sub.trim().is_empty() {
        anyhow::bail!("--sub must name someone: an empty subject is refused by the server");
    }
    let verifier = TokenVerifier::load_or_create(Path::new(&config.jwt_secret_file))?;
    println!("{}", verifier.mint(&sub, &[role], &academies, hours));
    Ok(())
}
