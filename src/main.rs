//! `ingest`: replicate source tables into SingleStore in batch runs.
//!
//! The CLI: parse arguments, load the configuration, run one command, map
//! its outcome to the exit status (see `error.rs`).

use ingest::{cli, config, error, instance, run};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ingest",
    version,
    about = "Replicates PostgreSQL and MySQL/MariaDB tables into SingleStore (or MySQL/MariaDB) in batch runs"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', global = true, default_value = "ingest.toml")]
    config: PathBuf,
    /// Also print progress (info lines) on stderr, not only warnings and errors.
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented example configuration to --config (never overwrites).
    Init,
    /// Check connections and source prerequisites; changes nothing.
    Check,
    /// List source tables, the selected ones marked with *.
    Tables,
    /// Initial extract and load of the selected tables (or only of these:
    /// schema.table names or globs among the selected tables).
    FullExtract { tables: Vec<String> },
    /// One delta extract and load.
    Delta,
    /// Full extract of the tables selected since (never extracted), while
    /// the others' deltas go on from their own positions.
    SyncNewTables,
    /// Give the destination tables whose structure changed at the source
    /// that structure in place (columns added, kept or dropped, widened,
    /// renamed), then apply the changes that waited (all selected tables,
    /// or only these).
    SyncStruct { tables: Vec<String> },
    /// Run by the [schedule] until stopped (Ctrl-C, SIGTERM, the Windows
    /// console closing): a full extract while none was done, then deltas.
    Run {
        /// Do what is due now and exit with its status (Task Scheduler,
        /// systemd timers, cron).
        #[arg(long)]
        once: bool,
    },
    /// Move the source position back to where an earlier run started and
    /// read the changes since again.
    Rollback {
        /// List the runs to go back to, and whether the source allows it.
        #[arg(long, conflicts_with = "to")]
        list: bool,
        /// The run whose start to go back to.
        #[arg(long, value_name = "RUN_ID", required_unless_present = "list")]
        to: Option<i64>,
    },
    /// Turn scheduled runs on or off (kept in state.db; `run` obeys it).
    Scheduler {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Last runs, positions, per-table counts.
    Status,
    /// Serve the status page ([web] bind) without running anything, until
    /// stopped.
    Serve,
    /// The manual's reports from state.db: `day YYYY-MM-DD` (per run) or
    /// `month YYYY-MM` (per day), with timings (UTC days).
    Report {
        #[arg(value_parser = ["day", "month"])]
        period: String,
        /// The day (YYYY-MM-DD) or month (YYYY-MM).
        date: String,
        /// Day report: one table's counts only.
        #[arg(long)]
        table: Option<String>,
        #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
        format: String,
    },
    /// Print the SQL ingest would send to the destination for the selected
    /// tables (or only these), to review; runs nothing.
    Sql { tables: Vec<String> },
    /// Compare the destination with the source: per table, the row count
    /// and a checksum of every row's values, computed by each server; exit 1
    /// on a difference. Changes nothing. Run it when the source is quiet or
    /// right after a delta: changes since the last run show as differences.
    Verify {
        /// Names or globs among the selected tables (none: all).
        tables: Vec<String>,
        /// List the keys whose rows differ.
        #[arg(long)]
        rows: bool,
        /// With --rows: at most this many keys per table.
        #[arg(long, default_value_t = 20, requires = "rows")]
        limit: usize,
        /// Compare only the rows this condition selects, on both sides
        /// (e.g. "id BETWEEN 1 AND 100000"; columns by their names).
        #[arg(long = "where", value_name = "CONDITION")]
        filter: Option<String>,
    },
    /// Read a password (or token) on stdin and print it as `enc:...` for
    /// the configuration; makes the key (state_dir/secret.key) if missing.
    Encrypt,
    /// Put a recovery folder's configuration (at --config) and state.db
    /// (into its state_dir) in place on a new machine.
    Restore {
        /// The `[recovery] dir` of the instance to restore.
        #[arg(long)]
        from: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let r = run(&cli);
    ingest::events::flush();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = error::exit_code(&e);
            log::error!(target: "ingest::fatal", "{e:#}");
            eprintln!("ingest: {e:#}");
            ExitCode::from(code as u8)
        }
    }
}

/// `ingest encrypt`: the first line of stdin, sealed. Never on the command
/// line (it would show in `ps`).
fn encrypt(config: &std::path::Path) -> anyhow::Result<()> {
    let cfg = config::load_unresolved(config)?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let clear = line.trim_end_matches(['\r', '\n']);
    if clear.is_empty() {
        return Err(error::config(
            "ingest encrypt reads the password on stdin: echo it into it, or type it and press Enter",
        ));
    }
    let key = ingest::secret::load_or_make_key(&cfg.instance.state_dir).map_err(error::config)?;
    println!(
        "{}",
        ingest::secret::seal(&key, clear).map_err(error::config)?
    );
    Ok(())
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    if let Command::Init = cli.command {
        if cli.config.exists() {
            return Err(error::config(format!(
                "{} exists already; not overwritten",
                cli.config.display()
            )));
        }
        std::fs::write(&cli.config, config::EXAMPLE)?;
        println!(
            "wrote {}: edit [source], [destination] and [[table]], then run `ingest check`",
            cli.config.display()
        );
        return Ok(());
    }
    if let Command::Encrypt = cli.command {
        return encrypt(&cli.config);
    }
    if let Command::Restore { from } = &cli.command {
        println!("{}", ingest::recovery::restore(from, &cli.config)?);
        return Ok(());
    }
    // Commands that read state.db only need no password: an `enc:` value
    // without its key, or a variable set only for the runs, does not stop
    // them.
    let cfg = match cli.command {
        Command::Status | Command::Report { .. } | Command::Scheduler { .. } => {
            config::load_unresolved(&cli.config)?
        }
        Command::Serve => config::load_for_page(&cli.config)?,
        _ => config::load(&cli.config)?,
    };
    let inst = instance::open(&cfg, cli.verbose)?;
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
    let meta = &inst.meta;
    match cli.command {
        Command::Init => unreachable!("handled above"),
        Command::Check => cli::check(&cfg),
        Command::Tables => cli::tables(&cfg, meta),
        Command::Status => cli::status(&cfg, meta, &mut std::io::stdout()),
        Command::Serve => ingest::web::serve(&cfg),
        Command::Report {
            ref period,
            ref date,
            ref table,
            ref format,
        } => {
            let f = cli::report::Format::parse(format).unwrap_or(cli::report::Format::Table);
            let out = &mut std::io::stdout();
            if period == "day" {
                cli::report::day(meta, date, table.as_deref(), f, out)
            } else {
                cli::report::month(meta, date, f, out)
            }
        }
        Command::Run { once: true } => ingest::scheduler::run_once(&cfg, meta),
        Command::Run { once: false } => ingest::scheduler::run_forever(&cfg, meta),
        Command::SyncNewTables => {
            let _lock = instance::lock(&cfg)?;
            match run::sync_new_tables(&cfg, meta, &run::selected_names(&cfg)?)? {
                None => println!("sync-new-tables: no newly selected table"),
                Some(s) => println!("{}", s.line("sync-new-tables", "row")),
            }
            Ok(())
        }
        Command::SyncStruct { ref tables } => {
            let _lock = instance::lock(&cfg)?;
            let s = run::sync_struct(&cfg, meta, tables)?;
            println!("{}", s.line("sync-struct", "change"));
            Ok(())
        }
        Command::Rollback { list: true, .. } => {
            run::rollback::list(&cfg, meta, &mut std::io::stdout())
        }
        Command::Rollback { to, .. } => {
            let _lock = instance::lock(&cfg)?;
            let s = run::rollback::to(&cfg, meta, to.unwrap_or_default())?;
            println!("{}", s.line("rollback and delta", "change"));
            Ok(())
        }
        Command::Scheduler { ref state } => {
            let on = state == "on";
            meta.set_scheduler(on, None)?;
            println!("scheduler {state}");
            Ok(())
        }
        Command::Sql { ref tables } => cli::sql(&cfg, tables, &mut std::io::stdout()),
        Command::Verify {
            ref tables,
            rows,
            limit,
            ref filter,
        } => {
            let o = ingest::verify::Options {
                tables: tables.clone(),
                rows,
                limit,
                filter: filter.clone(),
            };
            ingest::verify::verify(&cfg, meta, &o, &mut std::io::stdout())
        }
        Command::Encrypt | Command::Restore { .. } => unreachable!("handled above"),
        Command::FullExtract { ref tables } => {
            let _lock = instance::lock(&cfg)?;
            let s = run::full_extract(&cfg, meta, tables)?;
            println!("{}", s.line("full extract", "row"));
            Ok(())
        }
        Command::Delta => {
            let _lock = instance::lock(&cfg)?;
            let s = run::delta(&cfg, meta)?;
            println!("{}", s.line("delta", "change"));
            Ok(())
        }
    }
}
