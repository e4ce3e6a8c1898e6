use clap::{CommandFactory, Parser, Subcommand};

use outbound::config::{Environment, Settings};

/// mimalloc instead of the system allocator: a delivery allocates many
/// small, short-lived buffers (request, response, task), and glibc's
/// allocator spent a fifth of the worker's CPU on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Outbound webhooks with PostgreSQL as the only infrastructure.
#[derive(Parser)]
// Help under each flag, not beside it: the settings' names are long.
#[command(version, about, next_line_help = true)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, portal, delivery workers and maintenance.
    Serve,
    /// Run delivery workers only (start more of them to scale out).
    Worker,
    /// Apply the database schema and exit.
    Migrate {
        /// On a Citus coordinator: also distribute outbound's tables by
        /// tenant, co-located with outbound.tenants (see docs/citus.md).
        #[arg(long)]
        citus: bool,
    },
    /// Print throughput figures measured against this machine's Postgres.
    Bench(outbound::bench::BenchArgs),
    /// Run payload transformations for the service that started it (over
    /// stdin and stdout; not for people).
    #[command(hide = true)]
    TransformRunner(outbound::transform::runner::RunnerArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A runner has no settings, logs or runtime of its own: the service
    // starts it with an empty environment and talks to it over pipes.
    if let Command::TransformRunner(args) = &cli.command {
        return outbound::transform::runner::main(args);
    }
    if let Err(err) = outbound::telemetry::logs::init() {
        eprintln!("outbound: {err}");
        return std::process::ExitCode::from(2);
    }
    // clap has checked each setting while parsing; this checks the rules
    // that span several of them and the Outpost variables outbound refuses,
    // and reports them the same way (exit code 2).
    let settings = match cli.settings.finish(&Environment::from_process()) {
        Ok(s) => s,
        Err(err) => err.format(&mut Cli::command()).exit(),
    };
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    // `outbound worker` multiplexes its sends on one thread by default: its
    // work is waiting on sockets, and one thread saves the cross-thread
    // wake-ups (and leaves the cores to Postgres). Run more worker
    // processes, or set WORKER_THREADS, to use more cores.
    let runtime = match (&cli.command, settings.delivery.worker_threads) {
        (Command::Worker, 1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        (Command::Worker, n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        _ => tokio::runtime::Runtime::new(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("outbound: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => outbound::app::serve(settings).await,
            Command::Worker => outbound::app::worker(settings).await,
            Command::Migrate { citus } => outbound::app::migrate(settings, citus).await,
            Command::Bench(args) => outbound::bench::run(settings, args).await,
            Command::TransformRunner(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("outbound: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
