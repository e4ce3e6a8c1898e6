//! The commands that run the service: `migrate`, `serve`, `worker`.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::wiring::apply_alert_settings;
use super::{Application, Database, Parts, Secrets};
use crate::config::Settings;
use crate::store;

/// `outbound migrate`, and with `citus` the tables distributed too.
pub async fn migrate(settings: Settings, citus: bool) -> anyhow::Result<()> {
    let db = Database::open(&settings)?;
    let result = async {
        if citus {
            // Refused before anything is migrated.
            let pool = store::connect_pool(&db.url, 1)?;
            let client = pool.get().await.context("connecting to the database")?;
            store::citus::check(&client).await?;
            drop(client);
            pool.close();
        }
        let applied = store::migrate::migrate(&db.url)
            .await
            .context("applying migrations")?;
        // The retention and pg_cron's job belong to the schema's set-up too:
        // with pg_cron, maintenance runs in the database from now on, even
        // before any `serve` starts.
        let pool = store::connect_pool(&db.url, 1)?;
        let client = pool.get().await.context("connecting to the database")?;
        let distributed = match citus {
            true => Some(store::citus::distribute(&client).await?),
            false => None,
        };
        store::maintenance::apply_settings(&client, settings.retention.days).await?;
        apply_alert_settings(&client, &settings).await?;
        // Not fatal: the schema is in place, and `serve` falls back to its
        // own scheduler when pg_cron cannot be used (e.g. the role lacks
        // USAGE on schema cron).
        let pg_cron = match store::maintenance::schedule_with_pg_cron(&client).await {
            Ok(scheduled) => scheduled,
            Err(err) => {
                eprintln!(
                    "outbound: pg_cron is installed but the job could not be scheduled: {err}"
                );
                false
            }
        };
        drop(client);
        pool.close();
        anyhow::Ok((applied, pg_cron, distributed))
    }
    .await;
    db.close();
    let (applied, pg_cron, distributed) = result?;
    if applied.is_empty() {
        println!("outbound: schema is up to date");
    } else {
        println!("outbound: applied {}", applied.join(", "));
    }
    if let Some(distributed) = distributed {
        if distributed.placed.is_empty() {
            println!("outbound: outbound's tables are already distributed");
        } else {
            println!("outbound: distributed {}", distributed.placed.join(", "));
        }
        println!("outbound: workers poll for SQL-published events (no NOTIFY on Citus)");
        println!(
            "outbound: to co-locate an application table with outbound's, run on the coordinator:"
        );
        println!("  {}", store::citus::COLOCATE_HINT);
    }
    if pg_cron {
        println!("outbound: maintenance scheduled with pg_cron (job outbound-maintain)");
    } else {
        println!("outbound: no pg_cron here; `outbound serve` runs maintenance itself");
    }
    Ok(())
}

/// `outbound serve`: everything in one process.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone());
    // Secrets first: a missing one is an error before anything starts.
    if settings.database.url.is_some() {
        Secrets::resolve(&settings, false)?;
    }
    let db = Database::open(&settings)?;
    let result = async {
        let secrets = Secrets::resolve(&settings, db.is_private())?;
        let app = Application::build(&settings, &db, secrets.clone(), Parts::SERVE).await?;
        if let Some(local) = app.local_addr() {
            println!("outbound: listening on http://{local}");
            tracing::info!(%local, "HTTP server listening");
            if db.is_private() {
                let key = &secrets.auth.api_key;
                println!("outbound: API key (Authorization: Bearer …): {key}");
                println!(
                    "outbound: portal link for a tenant: curl -H 'Authorization: Bearer {key}' http://{local}/api/v1/tenants/<tenant_id>/portal"
                );
            }
        }
        app.run(cancel).await?;
        tracing::info!("shut down cleanly");
        anyhow::Ok(())
    }
    .await;
    db.close();
    result
}

/// `outbound worker`: delivery workers only, to scale out.
pub async fn worker(settings: Settings) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone());
    let db = Database::open(&settings)?;
    let result = async {
        let secrets = Secrets::for_worker(&settings, db.is_private())?;
        let app = Application::build(&settings, &db, secrets, Parts::WORKER).await?;
        println!("outbound: worker {} running", app.worker().id());
        app.run(cancel).await
    }
    .await;
    db.close();
    result
}

/// SIGINT and SIGTERM both start a graceful shutdown.
pub fn spawn_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
}
