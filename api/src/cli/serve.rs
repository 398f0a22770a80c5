//! `carnet serve` (the default command): bind the port, load the demo data into a new database
//! (development), build the application and serve until SIGTERM or Ctrl-C. In development it
//! prints one local token per role (`dev_tokens.rs`).

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::{self, Application, open_store, redact};
use carnet_lab::Lab;

pub async fn run(config: Config) -> anyhow::Result<()> {
    // the port first: taken, the start fails before the demo data (or anything) is written
    let listener = startup::bind(&config)?;
    if config.demo_data_enabled() {
        let store = open_store(config.database_url.expose()).await?;
        let lab = Lab::new(store, config.reference_prefix.clone(), config.load_master_keys(true)?);
        let today = chrono::Utc::now().date_naive();
        if let Some(demo) = carnet_lab::demo::load_if_empty(&lab, today).await.context("demo data")? {
            println!(
                "Base neuve : données de démonstration chargées ({} projets, {} sessions dont {} tenues, \
                 {} visiteurs, {} personnes fictives)",
                demo.projects, demo.sessions, demo.sessions_held, demo.visitors, demo.people
            );
        }
    }
    let app = Application::build_on(config.clone(), listener).await?;
    println!(
        "Carnet écoute sur http://{}:{}/ (base : {})",
        config.host,
        app.port(),
        redact(config.database_url.expose())
    );
    // development only: one token per role, each its own subject; GraphiQL has the first
    if let Some(tokens) = app.dev_tokens() {
        println!(
            "Jetons locaux ({} h), en-tête « Authorization: Bearer … » (GraphiQL a déjà le premier) :",
            carnet_api::dev_tokens::HOURS
        );
        for (role, token) in tokens.iter() {
            println!("  {:<15} {}", role.label(), token);
        }
    }
    app.run_until_stopped().await?;
    Ok(())
}
