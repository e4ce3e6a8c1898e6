//! Wiring: the database (given or private), secrets, and the
//! [`Application`] — API, delivery worker and maintenance built from the
//! settings — with shutdown on SIGINT/SIGTERM.
//!
//! `outbound serve`, `outbound worker` and the integration tests all build
//! the service through [`Application::build`], so what the tests run is
//! what production runs; they differ only in the [`Parts`] they start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::prometheus::Metrics;
use crate::api::{self, server, AppState, Components};
use crate::config::{PortalSettings, Settings};
use crate::delivery::operator_events::OperatorEventSender;
use crate::delivery::replays::Replayer;
use crate::delivery::worker::Worker;
use crate::portal;
use crate::store::{self, maintenance::Maintainer, Pool};

mod commands;
mod database;
mod wiring;

pub use commands::{migrate, serve, spawn_signal_handler, worker};
pub use database::{Database, Secrets};
use wiring::{api_state, apply_alert_settings, delivery, operator_event_sender, senders};

/// How often the built-in scheduler runs maintenance when pg_cron does not.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(600);

/// Which parts of the service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// The HTTP API and portal, on `API_HOST:API_PORT`.
    pub api: bool,
    /// The delivery worker loop.
    pub worker: bool,
    /// Maintenance: the built-in scheduler, or pg_cron's schedule.
    pub maintenance: bool,
}

impl Parts {
    /// `outbound serve`: everything.
    pub const SERVE: Parts = Parts {
        api: true,
        worker: true,
        maintenance: true,
    };
    /// `outbound worker`: delivery only.
    pub const WORKER: Parts = Parts {
        api: false,
        worker: true,
        maintenance: false,
    };
}

/// The service, built from its settings and ready to run.
pub struct Application {
    parts: Parts,
    portal: crate::config::PortalSettings,
    pool: Pool,
    state: AppState,
    worker: Worker,
    /// Delivers the operator-event outbox, where a sink is configured.
    operator_events: Option<OperatorEventSender>,
    /// Runs the steps of replays in progress (with the worker).
    replayer: Replayer,
    listener: Option<TcpListener>,
    limits: server::Limits,
    metrics: Metrics,
    /// The publish queue's consumer (`PUBLISH_*`), run with the API.
    intake: Option<crate::intake::Consumer>,
}

impl Application {
    /// Builds the service on `db`: applies the schema, opens the pools,
    /// builds the API state and the worker, and (with `parts.api`) binds
    /// the API's port, so a port in use is a start-up error. Nothing runs
    /// until [`Application::run`].
    pub async fn build(
        settings: &Settings,
        db: &Database,
        secrets: Secrets,
        parts: Parts,
    ) -> anyhow::Result<Application> {
        let applied = store::migrate::migrate(&db.url)
            .await
            .context("applying migrations")?;
        crate::telemetry::logs::schema_applied(&applied);
        let pool = store::connect_pool(&db.url, settings.database.pool_size)?;
        if parts.maintenance {
            let client = pool.get().await.context("connecting to the database")?;
            store::maintenance::apply_settings(&client, settings.retention.days).await?;
        }
        let components = Arc::new(Components::default());
        let healthy = if parts.worker {
            components.register("delivery")
        } else {
            Arc::default()
        };
        let senders = senders(settings)?;
        let deliverable = senders.kinds();
        // The worker's own transformation runners: the API has others (in
        // `api_state`), so that previews, however many and however bad,
        // never keep a delivery waiting for a runner.
        let transformer = crate::transform::Transformer::new(settings.transform.limits());
        let (worker_cfg, attempter) = delivery(settings, &secrets.aes, senders, transformer)?;
        let worker = Worker::new(db.url.clone(), worker_cfg, attempter, healthy)?;
        let operator_events = operator_event_sender(settings, &pool, worker.id())?;
        let replayer = Replayer::new(pool.clone(), Some(worker.waker()));
        {
            let client = pool.get().await.context("connecting to the database")?;
            apply_alert_settings(&client, settings).await?;
        }
        let state = api_state(settings, &secrets, pool.clone(), components)?;
        let state = AppState {
            wake_worker: parts.worker.then(|| worker.waker()),
            deliverable: Arc::from(deliverable),
            ..state
        };
        let intake = match parts.api {
            true => crate::intake::consumer(&settings.publish, &state)
                .map_err(anyhow::Error::msg)
                .context("the publish queue (PUBLISH_*)")?,
            false => None,
        };
        let listener = match parts.api {
            false => None,
            true => {
                let addr: SocketAddr = format!("{}:{}", settings.api.host, settings.api.port)
                    .parse()
                    .with_context(|| {
                        format!("API_HOST {:?} is not an IP address", settings.api.host)
                    })?;
                let listener = TcpListener::bind(addr).await.with_context(|| {
                    format!("cannot listen on {addr} (set API_PORT to a free port)")
                })?;
                Some(listener)
            }
        };
        let metrics = Metrics::bind(
            &settings.api.host,
            settings.api.metrics_port,
            state.clone(),
            worker.pool().clone(),
        )
        .await?;
        Ok(Application {
            parts,
            portal: PortalSettings {
                wildcard_topics: settings.topics.allow_wildcards,
                retention_days: settings.retention.days,
                ..settings.portal.clone()
            },
            pool,
            state,
            worker,
            operator_events,
            replayer,
            listener,
            limits: server::Limits {
                header_read_timeout: settings.api.header_read_timeout,
                max_connections: settings.api.max_connections,
            },
            metrics,
            intake,
        })
    }

    /// Where the API listens (None without the API part).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where `METRICS_PORT` listens, if it is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.local_addr()
    }

    /// The delivery worker (tests step it with `run_once`).
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// The operator-event sender (tests step it with `run_once`).
    pub fn operator_events(&self) -> Option<&OperatorEventSender> {
        self.operator_events.as_ref()
    }

    /// The replayer (tests step it with `run_once`).
    pub fn replayer(&self) -> &Replayer {
        &self.replayer
    }

    /// The API's shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs the parts until `cancel` fires, then shuts down: the API stops
    /// accepting, the worker finishes its sends, the pools close.
    pub async fn run(mut self, cancel: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(serve) = self.metrics.serve_apart(self.limits, cancel.clone()) {
            tasks.spawn(serve);
        }
        if self.parts.worker {
            tasks.spawn(self.worker.clone().run(cancel.clone()));
            // The workers deliver the operator events too: any process
            // that delivers may pick up an event another one left behind.
            if let Some(sender) = self.operator_events.clone() {
                tasks.spawn(sender.run(cancel.clone()));
            }
            // And replays: any process that delivers may run a step.
            tasks.spawn(self.replayer.clone().run(cancel.clone()));
        }
        if let Some(intake) = self.intake.take() {
            tracing::info!(queue = %intake.describe, "publish queue");
            tasks.spawn(intake.run(cancel.clone()));
        }
        if self.parts.maintenance {
            match built_in_maintainer(&self.pool).await {
                Some(maintainer) => {
                    tasks.spawn(maintainer.run(cancel.clone()));
                }
                None => tracing::info!("maintenance scheduled with pg_cron"),
            }
        }
        match self.listener {
            Some(listener) => {
                let router = api::router(self.state)
                    .merge(portal::router(&self.portal))
                    .merge(self.metrics.router());
                server::serve(listener, router, self.limits, cancel.clone()).await;
            }
            None => cancel.cancelled().await,
        }
        cancel.cancel();
        while tasks.join_next().await.is_some() {}
        self.pool.close();
        Ok(())
    }
}

/// The built-in maintenance scheduler, or None when pg_cron runs
/// maintenance in this database (the job is registered, or updated, here).
/// Not knowing counts as no pg_cron: an extra run is harmless (the
/// function's advisory lock lets one caller at a time do the work), a
/// missing one is not.
pub async fn built_in_maintainer(pool: &Pool) -> Option<Maintainer> {
    let pg_cron = match pool.get().await {
        Ok(client) => store::maintenance::schedule_with_pg_cron(&client)
            .await
            .unwrap_or(false),
        Err(_) => false,
    };
    (!pg_cron).then(|| Maintainer::new(pool.clone(), MAINTENANCE_EVERY))
}
