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

use crate::api::auth::AuthConfig;
use crate::api::prometheus::Metrics;
use crate::api::{self, server, AppState, Components};
use crate::config::Settings;
use crate::delivery::attempt::Attempter;
use crate::delivery::operator_events::OperatorEventSender;
use crate::delivery::operator_sinks::Sink;
use crate::delivery::worker::{Worker, WorkerConfig};
use crate::destinations::credentials::Cipher;
use crate::destinations::sender::SenderContext;
use crate::destinations::Senders;
use crate::domain::catalog::Catalog;
use crate::domain::operator_event;
use crate::domain::retry::RetryPolicy;
use crate::domain::ssrf::NetworkPolicy;
use crate::domain::topic::TopicList;
use crate::embedded_pg::{ClusterOptions, PrivateCluster};
use crate::net::http_client::{HttpClientConfig, HttpSender};
use crate::portal;
use crate::store::{self, maintenance::Maintainer, Pool};

/// How often the built-in scheduler runs maintenance when pg_cron does not.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(600);

/// The database the process runs on: the configured one, or the private
/// cluster this process started (stopped again on shutdown).
pub struct Database {
    pub url: String,
    cluster: Option<PrivateCluster>,
}

impl Database {
    pub fn open(settings: &Settings) -> anyhow::Result<Database> {
        if let Some(url) = &settings.database.url {
            return Ok(Database {
                url: url.clone(),
                cluster: None,
            });
        }
        let data_dir = &settings.database.data_dir;
        let cluster = PrivateCluster::start(data_dir, &ClusterOptions::default())?;
        let url = cluster.url();
        println!(
            "outbound: no DATABASE_URL set; using the private PostgreSQL cluster in {}",
            cluster.pgdata().display()
        );
        println!("outbound: connect with: psql \"{url}\"");
        Ok(Database {
            url,
            cluster: Some(cluster),
        })
    }

    /// The private cluster (dev mode: secrets may be generated).
    pub fn is_private(&self) -> bool {
        self.cluster.is_some()
    }

    pub fn close(self) {
        if let Some(cluster) = self.cluster {
            if cluster.started_here() {
                match cluster.stop() {
                    Ok(()) => tracing::info!("private PostgreSQL cluster stopped"),
                    Err(err) => tracing::warn!(error = %err, "could not stop the private cluster"),
                }
            }
        }
    }
}

/// The operator key and signing secrets.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub auth: AuthConfig,
    /// `AES_ENCRYPTION_SECRET`.
    pub aes: String,
}

impl Secrets {
    /// The secrets from the settings. On the private cluster, missing ones
    /// are generated once and kept in OUTBOUND_DATA_DIR/secrets.json;
    /// against a given DATABASE_URL a missing one is an error naming it.
    pub fn resolve(settings: &Settings, private: bool) -> anyhow::Result<Secrets> {
        use rand::distr::{Alphanumeric, SampleString};
        let api = &settings.api;
        let mut stored = serde_json::Map::new();
        let path = settings.database.data_dir.join("secrets.json");
        if private {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&text) {
                    stored = m;
                }
            }
        }
        let mut changed = false;
        let mut pick = |var: &str, given: &Option<String>| -> anyhow::Result<String> {
            if let Some(v) = given {
                return Ok(v.clone());
            }
            if !private {
                anyhow::bail!("{var} is not set; it is required when DATABASE_URL is given");
            }
            if let Some(v) = stored.get(var).and_then(|v| v.as_str()) {
                return Ok(v.to_string());
            }
            let v = Alphanumeric.sample_string(&mut rand::rng(), 40);
            stored.insert(var.to_string(), serde_json::Value::String(v.clone()));
            changed = true;
            Ok(v)
        };
        let api_key = pick("API_KEY", &api.api_key)?;
        let jwt_secret = pick("API_JWT_SECRET", &api.jwt_secret)?;
        let aes = pick("AES_ENCRYPTION_SECRET", &api.aes_secret)?;
        if changed {
            std::fs::write(&path, serde_json::Value::Object(stored).to_string())
                .with_context(|| format!("writing {}", path.display()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(Secrets {
            auth: AuthConfig {
                api_key,
                jwt_secret,
            },
            aes,
        })
    }

    /// Only the key that decrypts credentials, for a worker-only process.
    pub fn for_worker(settings: &Settings, private: bool) -> anyhow::Result<Secrets> {
        match (&settings.api.aes_secret, private) {
            (Some(aes), _) => Ok(Secrets {
                auth: AuthConfig {
                    api_key: String::new(),
                    jwt_secret: String::new(),
                },
                aes: aes.clone(),
            }),
            (None, true) => Secrets::resolve(settings, true),
            (None, false) => anyhow::bail!(
                "AES_ENCRYPTION_SECRET is not set; it is required when DATABASE_URL is given"
            ),
        }
    }
}

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
    listener: Option<TcpListener>,
    limits: server::Limits,
    metrics: Metrics,
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
        let (worker_cfg, attempter) = delivery(settings, &secrets.aes, senders)?;
        let worker = Worker::new(db.url.clone(), worker_cfg, attempter, healthy)?;
        let operator_events = operator_event_sender(settings, &pool, worker.id())?;
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
            portal: settings.portal.clone(),
            pool,
            state,
            worker,
            operator_events,
            listener,
            limits: server::Limits {
                header_read_timeout: settings.api.header_read_timeout,
                max_connections: settings.api.max_connections,
            },
            metrics,
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

/// What maintain() needs to raise alert.attempt.exhausted_retries for the
/// deliveries it ends (it may run from pg_cron, with no process around).
/// Every process writes it as it starts (serve, worker, migrate): with
/// processes configured differently, the last one started wins.
async fn apply_alert_settings(
    client: &impl store::GenericClient,
    settings: &Settings,
) -> anyhow::Result<()> {
    let ops = &settings.operator_events;
    store::maintenance::apply_alert_settings(
        client,
        ops.topics.exhausted_retries && ops.has_sink(),
        exhausted_window_ms(settings),
    )
    .await?;
    Ok(())
}

/// `ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS` in milliseconds.
fn exhausted_window_ms(settings: &Settings) -> i64 {
    i64::try_from(
        settings
            .operator_events
            .exhausted_retries_window
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// The sender of the operator-event outbox, where a sink is configured.
fn operator_event_sender(
    settings: &Settings,
    pool: &Pool,
    worker_id: &str,
) -> anyhow::Result<Option<OperatorEventSender>> {
    let ops = &settings.operator_events;
    let timeout = settings.delivery.timeout;
    let sink = match (&ops.http_url, &ops.queue) {
        (Some(url), _) => Sink::http(url.clone(), ops.signing_secret.clone(), timeout)?,
        (None, Some(queue)) => Sink::queue(queue, timeout)?,
        (None, None) => return Ok(None),
    };
    Ok(Some(OperatorEventSender::with_sink(
        pool.clone(),
        sink,
        ops.deployment_id.clone(),
        timeout,
        format!("{worker_id}/operator-events"),
    )))
}

/// The API's state from the settings.
fn api_state(
    settings: &Settings,
    secrets: &Secrets,
    pool: Pool,
    components: Arc<Components>,
) -> anyhow::Result<AppState> {
    let catalog = match &settings.topics.catalog {
        Some(path) => Catalog::load(path).context("TOPICS_CATALOG")?,
        None => Catalog::default(),
    };
    // The topic list: TOPICS, or else the catalog's topics, or else any.
    let listed = match (&settings.topics.topics, catalog.entries().is_empty()) {
        (Some(t), _) => Some(t.clone()),
        (None, false) => Some(catalog.names()),
        (None, true) => None,
    };
    let topics = TopicList::new(listed.as_deref()).context("TOPICS")?;
    let network = NetworkPolicy::parse(&settings.delivery.allowed_networks.join(","))
        .context("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS")?;
    Ok(AppState {
        network: Arc::new(network),
        header_prefix: settings.destinations.webhook.header_prefix.clone(),
        operator_topics: settings.operator_events.topics,
        webhook_mode: settings.destinations.webhook.mode,
        publisher: store::publisher::Publisher::new(pool.clone()),
        pool,
        components,
        auth: Arc::new(secrets.auth.clone()),
        topics: Arc::new(topics),
        max_event_bytes: settings.api.max_event_bytes,
        body_read_timeout: settings.api.body_read_timeout,
        public_url: settings.api.public_url.clone(),
        cipher: Arc::new(Cipher::new(&secrets.aes)),
        max_destinations_per_tenant: settings.api.max_destinations_per_tenant,
        catalog: Arc::new(catalog),
        validate_schema: settings.topics.validate_schema,
        wake_worker: None,
        deliverable: Arc::from(Vec::new()),
    })
}

/// The senders of every deliverable type, from the settings.
fn senders(settings: &Settings) -> anyhow::Result<Senders> {
    let d = &settings.delivery;
    let policy = Arc::new(
        NetworkPolicy::parse(&d.allowed_networks.join(","))
            .context("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS")?,
    );
    let http = HttpSender::new(HttpClientConfig {
        timeout: d.timeout,
        connect_timeout: d.timeout,
        policy: policy.clone(),
        ..HttpClientConfig::default()
    })
    .context("building the HTTP client")?;
    Ok(Senders::new(
        &SenderContext {
            http,
            policy,
            timeout: d.timeout,
        },
        &settings.destinations,
    ))
}

/// The worker's loop settings and its attempter, from the settings.
fn delivery(
    settings: &Settings,
    aes: &str,
    senders: Senders,
) -> anyhow::Result<(WorkerConfig, Attempter)> {
    let d = &settings.delivery;
    let retry = match &d.retry_schedule {
        Some(schedule) => RetryPolicy::Schedule(schedule.clone()),
        None => RetryPolicy::Exponential {
            interval: d.retry_interval,
            max_retries: d.max_retry_limit,
        },
    };
    let cfg = WorkerConfig {
        concurrency: d.concurrency,
        lease: d.lease,
        send_timeout: d.timeout,
        grace: d.timeout + Duration::from_secs(2),
        disable_after: match settings.operator_events.auto_disable {
            true => d.disable_after_failures,
            false => 0,
        },
        disable_min_failing: d.disable_min_failing,
        alerts: operator_event::Alerts {
            topics: settings.operator_events.topics,
            threshold: i32::try_from(d.disable_after_failures).unwrap_or(i32::MAX),
            exhausted_window_ms: exhausted_window_ms(settings),
        },
        destination_cap: d.destination_concurrency,
        circuit_after: d.circuit_breaker_failures,
        circuit_cooldown: d.circuit_breaker_cooldown,
        ..WorkerConfig::default()
    };
    let attempter = Attempter {
        senders,
        retry,
        cipher: Some(Arc::new(Cipher::new(aes))),
        timeout: d.timeout,
        circuits: Arc::default(),
    };
    Ok((cfg, attempter))
}

/// `outbound migrate`.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let db = Database::open(&settings)?;
    let result = async {
        let applied = store::migrate::migrate(&db.url)
            .await
            .context("applying migrations")?;
        // The retention and pg_cron's job belong to the schema's set-up too:
        // with pg_cron, maintenance runs in the database from now on, even
        // before any `serve` starts.
        let pool = store::connect_pool(&db.url, 1)?;
        let client = pool.get().await.context("connecting to the database")?;
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
        anyhow::Ok((applied, pg_cron))
    }
    .await;
    db.close();
    let (applied, pg_cron) = result?;
    if applied.is_empty() {
        println!("outbound: schema is up to date");
    } else {
        println!("outbound: applied {}", applied.join(", "));
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
