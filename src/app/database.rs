//! The database the process runs on and the secrets it needs.

use anyhow::Context;

use crate::api::auth::AuthConfig;
use crate::config::Settings;
use crate::embedded_pg::{ClusterOptions, PrivateCluster};

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
