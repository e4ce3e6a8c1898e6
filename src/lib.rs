//! `outbound`: outbound webhooks with PostgreSQL as the only infrastructure.
//!
//! Events are inserted into `outbound.events` (by the REST API or by an
//! application's own SQL, inside its own transaction); a statement-level
//! trigger fans them out to matching destinations in the same transaction;
//! stateless workers claim deliveries with `FOR UPDATE SKIP LOCKED`, send
//! them, and log attempts. See DESIGN.md for the product.
//!
//! # Layout
//!
//! - [`config`]: `Settings` from environment variables (or the same-named
//!   flags), read by clap and validated at start-up.
//! - [`app`]: wiring — database, migrations, pool, server, background tasks,
//!   shutdown.
//! - [`domain`]: pure types and rules (ids, topics, filters); no I/O.
//! - [`store`]: the only code that speaks SQL; one function per named query
//!   in `sql/queries/`.
//! - [`api`]: the HTTP server.
//! - [`delivery`]: workers that claim, send and record deliveries.
//! - [`portal`]: the tenant portal, a web UI served at `/`.
//! - [`telemetry`]: the process's counters, `GET /metrics`, and logging.
//! - [`embedded_pg`]: the private PostgreSQL cluster used when no
//!   `DATABASE_URL` is set, and by tests and benches.
//! - [`bench`]: the `outbound bench` command that prints throughput figures.

pub mod api;
pub mod app;
pub mod bench;
pub mod config;
pub mod delivery;
pub mod destinations;
pub mod domain;
pub mod embedded_pg;
pub mod net;
pub mod portal;
pub mod store;
pub mod telemetry;
