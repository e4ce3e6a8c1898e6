//! Wiring: database (given or private), migrations, pool, HTTP server,
//! maintenance, and shutdown on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::auth::AuthConfig;
use crate::api::{self, AppState, Components};
use crate::config::Settings;
use crate::delivery::http_client::{HttpClientConfig, HttpSender};
use crate::delivery::webhook::WebhookSettings;
use crate::delivery::worker::{Worker, WorkerConfig};
use crate::domain::catalog::Catalog;
use crate::domain::credentials::Cipher;
use crate::domain::retry::RetryPolicy;
use crate::domain::signature::SignatureTemplates;
use crate::domain::ssrf::NetworkPolicy;
use crate::domain::topic::TopicList;
use crate::embedded_pg::{ClusterOptions, PrivateCluster};
use crate::store::{self, maintenance::Maintainer};

/// How often the built-in scheduler runs maintenance when pg_cron does not.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(600);

/// The database the process runs on: the configured one, or the private
/// cluster this process started (stopped again on shutdown).
pub struct Database {
    pub url: String,
    cluster: Option<PrivateCluster>,
}

/// The operator key and signing secrets. On the private cluster, missing
/// ones are generated once and kept in OUTBOUND_DATA_DIR/secrets.json;
/// against a given DATABASE_URL a missing one is a start-up error.
pub fn resolve_secrets(settings: &Settings, private: bool) -> anyhow::Result<(AuthConfig, String)> {
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
    Ok((
        AuthConfig {
            api_key,
            jwt_secret,
        },
        aes,
    ))
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

/// `outbound migrate`.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let db = Database::open(&settings)?;
    let result = store::migrate::migrate(&db.url).await;
    db.close();
    let applied = result.context("applying migrations")?;
    if applied.is_empty() {
        println!("outbound: schema is up to date");
    } else {
        println!("outbound: applied {}", applied.join(", "));
    }
    Ok(())
}

/// `outbound serve`: everything in one process.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone());
    let private = settings.database.url.is_none();
    // Secrets first: a missing one is an error before anything starts.
    if !private {
        resolve_secrets(&settings, false)?;
    }
    let db = Database::open(&settings)?;
    let result = serve_on(&settings, &db.url, private, cancel).await;
    db.close();
    result
}

async fn serve_on(
    settings: &Settings,
    url: &str,
    private: bool,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let (auth, aes_secret) = resolve_secrets(settings, private)?;
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
    store::migrate::migrate(url)
        .await
        .context("applying migrations")?;
    let pool = store::connect_pool(url, settings.database.pool_size)?;
    {
        let client = pool.get().await.context("connecting to the database")?;
        store::maintenance::apply_settings(&client, settings.retention.days).await?;
    }
    let components = Arc::new(Components::default());

    let mut tasks = tokio::task::JoinSet::new();
    let worker = build_worker(settings, url, &components, &aes_secret)?;
    let wake_worker = worker.waker();
    tasks.spawn(worker.run(cancel.clone()));
    let pg_cron = {
        let client = pool.get().await?;
        store::maintenance::schedule_with_pg_cron(&client)
            .await
            .unwrap_or(false)
    };
    if pg_cron {
        tracing::info!("maintenance scheduled with pg_cron");
    } else {
        let maintainer = Maintainer::new(pool.clone(), MAINTENANCE_EVERY);
        tasks.spawn(maintainer.run(cancel.clone()));
    }

    let addr: SocketAddr = format!("{}:{}", settings.api.host, settings.api.port)
        .parse()
        .with_context(|| format!("API_HOST {:?} is not an IP address", settings.api.host))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (set API_PORT to a free port)"))?;
    let local = listener.local_addr()?;
    println!("outbound: listening on http://{local}");
    tracing::info!(%local, "HTTP server listening");

    if private {
        println!(
            "outbound: API key (Authorization: Bearer …): {}",
            auth.api_key
        );
        println!(
            "outbound: portal link for a tenant: curl -H 'Authorization: Bearer {}' http://{local}/api/v1/tenants/<tenant_id>/portal",
            auth.api_key
        );
    }
    let state = AppState {
        pool: pool.clone(),
        components,
        auth: Arc::new(auth),
        topics: Arc::new(topics),
        max_event_bytes: settings.api.max_event_bytes,
        public_url: settings.api.public_url.clone(),
        cipher: Arc::new(Cipher::new(&aes_secret)),
        max_destinations_per_tenant: settings.api.max_destinations_per_tenant,
        catalog: Arc::new(catalog),
        validate_schema: settings.topics.validate_schema,
        wake_worker: Some(wake_worker),
        publisher: store::publisher::Publisher::new(pool.clone()),
    };
    let app = api::router(state);
    let shutdown = cancel.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("HTTP server")?;

    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    pool.close();
    tracing::info!("shut down cleanly");
    Ok(())
}

/// `outbound worker`: delivery workers only, to scale out.
pub async fn worker(settings: Settings) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone());
    let db = Database::open(&settings)?;
    let result = async {
        store::migrate::migrate(&db.url)
            .await
            .context("applying migrations")?;
        // Workers only need the key that decrypts credentials.
        let aes_secret = match (&settings.api.aes_secret, settings.database.url.is_none()) {
            (Some(s), _) => s.clone(),
            (None, true) => resolve_secrets(&settings, true)?.1,
            (None, false) => anyhow::bail!(
                "AES_ENCRYPTION_SECRET is not set; it is required when DATABASE_URL is given"
            ),
        };
        let components = Components::default();
        let worker = build_worker(&settings, &db.url, &components, &aes_secret)?;
        println!("outbound: worker {} running", worker.id());
        worker.run(cancel).await;
        anyhow::Ok(())
    }
    .await;
    db.close();
    result
}

/// The delivery worker as the settings describe it.
pub fn build_worker(
    settings: &Settings,
    url: &str,
    components: &Components,
    aes_secret: &str,
) -> anyhow::Result<Worker> {
    let d = &settings.delivery;
    let policy = NetworkPolicy::parse(&d.allowed_networks.join(","))
        .context("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS")?;
    let http = HttpSender::new(HttpClientConfig {
        timeout: d.timeout,
        connect_timeout: d.timeout,
        policy: Arc::new(policy),
        ..HttpClientConfig::default()
    })
    .context("building the HTTP client")?;
    let templates =
        SignatureTemplates::parse(&d.signature_content_template, &d.signature_header_template)
            .context("DESTINATIONS_WEBHOOK_SIGNATURE_*_TEMPLATE")?;
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
        retry,
        disable_after: d.disable_after_failures,
        cipher: Some(Arc::new(Cipher::new(aes_secret))),
        webhook: WebhookSettings {
            mode: d.webhook_mode,
            templates,
            header_prefix: d.header_prefix.clone(),
        },
        ..WorkerConfig::default()
    };
    Ok(Worker::new(
        url.to_string(),
        cfg,
        http,
        components.register("delivery"),
    )?)
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
