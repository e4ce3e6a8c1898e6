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
//! From the bottom up; a module imports only from those above it in this
//! list (no import circles).
//!
//! - [`domain`]: pure types and rules (ids, topics, filters, the attempt
//!   log's codes, the SSRF policy, setting parsers); no I/O.
//! - [`telemetry`]: the process's counters (labels and numbers) and
//!   logging.
//! - [`net`]: the transport under the senders: the vetted DNS lookup, TCP,
//!   the SOCKS relay, the HTTP client, with its own error.
//! - [`destinations`]: one folder per destination type (declaration, checks,
//!   target, sender, deployment settings) and the registry, the one place
//!   that picks by type.
//! - [`transform`]: payload transformations in jq, run in child processes
//!   (`outbound transform-runner`) that are bounded in time and memory.
//! - [`config`]: `Settings` from environment variables (or the same-named
//!   flags), each declared once in a clap group, validated at start-up.
//! - [`store`]: the only code that speaks SQL; one function per named query
//!   in `sql/queries/`.
//! - [`delivery`]: workers that claim, send and record deliveries.
//! - [`api`]: the HTTP server (and `GET /metrics`).
//! - [`portal`]: the tenant portal, a web UI served at `/`.
//! - [`intake`]: the publish queue (`PUBLISH_*`): publish requests taken
//!   from RabbitMQ, SQS, Pub/Sub or Service Bus and published as
//!   `POST /publish` does. (Its `settings` file is a leaf that `config`
//!   gathers, as it gathers the destinations' settings.)
//! - [`app`]: wiring — database, migrations, pool, server, background tasks,
//!   shutdown.
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
pub mod intake;
pub mod net;
pub mod portal;
pub mod store;
pub mod telemetry;
pub mod transform;
