//! `repo2agent`: turn repositories into reconstructed development trajectories
//! for LLM pretraining.
//!
//! This crate owns argument parsing, logging and what the user sees; every
//! stage lives in `repo2agent-core` and the plugin crates, registered in
//! [`builtins`].
//!
//! Exit codes: 0 success; 1 the run failed; 2 bad command line; 3 the config is
//! invalid (every problem is printed, nothing was done).

mod builtins;
mod inspect;
mod inspect_shards;
mod progress;
mod slurm;
mod summary;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use repo2agent_core::Registry;
use repo2agent_core::config::{self, ConfigError, RunConfig};
use repo2agent_core::run::pipeline;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use summary::{print_cleaned, print_estimate, print_plugins, print_run_summary};

/// Exit code when the config is invalid.
const EXIT_CONFIG: u8 = 3;
/// Exit code when the run fails.
const EXIT_FAILURE: u8 = 1;

#[derive(Parser, Debug)]
#[command(name = "repo2agent", version, about = "Turn repositories into reconstructed development trajectories for LLM pretraining.", long_about = None)]
#[command(after_help = "Exit codes: 0 success, 1 run failed, 2 bad command line, 3 invalid config.")]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the pipeline described by a config (the embedded default without -c).
    Run(RunArgs),
    /// Validate a config: parse it, load its plugins, build every component and
    /// check every reference; print every problem with its line. Does no work.
    Check(ConfigArg),
    /// List the plugins: built-in ones and those a config loads.
    Plugins(ConfigArg),
    /// Analyze one repository: outlines, dependency graph and implementation
    /// order, with the config's analyzers (all built-in ones by default).
    Analyze(AnalyzeArgs),
    /// Show a trajectory (`trajectories.jsonl`) or a packed sequence of a shard
    /// directory readably: roles coloured in the terminal, or an HTML page.
    Inspect(InspectArgs),
    /// Convert shards to another training format (Megatron-LM `.bin/.idx`).
    Export(ExportArgs),
    /// Join the outputs of sharded runs (`run --shard K/N`) into one dataset:
    /// the same trajectories, shards and counters as one run over everything.
    Merge(MergeArgs),
    /// Remove the units of a finished run (OUT/units, usually the largest part
    /// of an output directory): the dataset stays whole, but `run --resume`
    /// starts over and the directory cannot be merged as a part any more.
    Clean(CleanArgs),
    /// The paper's ablation in one command (`ABLATION.toml`, see docs/ablation.md):
    /// corpora from one set of repositories, the same model trained on each,
    /// every model evaluated on held-out repositories; a table, a plot, a JSON.
    Ablate(AblateArgs),
    /// Continue pretraining a Llama model on shards (burn; `TRAIN.toml`, see
    /// docs/training.md): metrics.jsonl, loss.png, checkpoints, final HF model.
    Train(TrainArgs),
    /// Write the tokenizer of a GGUF model as a Hugging Face tokenizer.json
    /// (rebuilt from its metadata), e.g. for `[tokenizer] path` so that shards
    /// match a GGUF model the trainer or the `burn` scorer loads.
    GgufTokenizer(GgufTokenizerArgs),
    /// Write Slurm job scripts: an array of N sharded workers (`run --shard
    /// K/N --resume`) and a merge job that runs after all of them succeed.
    Slurm(SlurmArgs),
    /// Print the embedded default config.
    DefaultConfig,
}

#[derive(Args, Debug)]
struct SlurmArgs {
    /// The run config (TOML); checked before anything is written.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Array tasks: the corpus is split into this many parts (`--shard K/N`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    tasks: u32,
    /// Output root: workers write DIR/parts/K, the merge DIR/merged, logs DIR/logs/.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Where worker.sbatch, merge.sbatch and submit.sh are written [default: OUT/slurm].
    #[arg(long, value_name = "DIR")]
    scripts: Option<PathBuf>,
    /// The repo2agent binary the jobs run [default: this one].
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// CPUs per task (also each worker's --workers unless Slurm says otherwise).
    #[arg(long, value_name = "C", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    cpus_per_task: u32,
    /// Memory per task, e.g. 8G (#SBATCH --mem).
    #[arg(long, value_name = "MEM")]
    mem: Option<String>,
    /// Time limit per task, e.g. 04:00:00 (#SBATCH --time).
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// Slurm partition (#SBATCH --partition).
    #[arg(long, value_name = "P")]
    partition: Option<String>,
    /// Slurm account (#SBATCH --account).
    #[arg(long, value_name = "A")]
    account: Option<String>,
    /// An extra `#SBATCH LINE` for both jobs, e.g. --sbatch=--qos=low (repeatable).
    #[arg(long = "sbatch", value_name = "LINE", allow_hyphen_values = true)]
    sbatch: Vec<String>,
    /// Run at most M array tasks at once (--array=0-(N-1)%M).
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    max_parallel: Option<u32>,
}

#[derive(Args, Debug)]
struct GgufTokenizerArgs {
    /// The GGUF file.
    gguf: PathBuf,
    /// Where to write tokenizer.json.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct AblateArgs {
    /// The ablation config (TOML).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Only check the configs (the ablation file, every corpus config, the
    /// training recipe, the shared tokenizer, the probe lengths) and exit.
    #[arg(long)]
    check: bool,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// The training config (TOML).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Continue from the newest checkpoint in the output directory.
    #[arg(long)]
    resume: bool,
    /// Stop after this many optimizer steps in total (checkpointing first),
    /// e.g. to fit a job's time slice; `--resume` continues.
    #[arg(long, value_name = "STEPS")]
    stop_after: Option<u64>,
    /// Only check the config (every problem with its line) and exit.
    #[arg(long)]
    check: bool,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// A `trajectories.jsonl` or a shard directory (`OUT/shards`) written by `repo2agent run`.
    file: PathBuf,
    /// Which repository (trajectories; default: the first line).
    #[arg(long)]
    repo: Option<String>,
    /// Which packed sequence (shards; default 0).
    #[arg(long, default_value_t = 0)]
    sequence: u64,
    /// Decode at most this many tokens of the sequence (shards; 0 = all).
    #[arg(long, default_value_t = 4096)]
    max_tokens: usize,
    /// Write an HTML page here instead of printing.
    #[arg(long, value_name = "OUT")]
    html: Option<PathBuf>,
    /// Colour the terminal output: always, never, or auto (when stdout is a terminal).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Args, Debug)]
struct CleanArgs {
    /// The run's output directory.
    #[arg(value_name = "OUT")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// The shard directory (`OUT/shards`).
    shards: PathBuf,
    /// Target format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Megatron)]
    format: ExportFormat,
    /// Output prefix: writes PREFIX.bin/.idx and PREFIX_loss_mask.bin/.idx.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ExportFormat {
    /// Megatron-LM indexed dataset plus a parallel loss-mask dataset.
    Megatron,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ColorChoice {
    /// When stdout is a terminal.
    Auto,
    /// Always (ANSI colours).
    Always,
    /// Never: roles as `[role]` tags.
    Never,
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    /// The repository directory.
    repo: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Order, edges and outlines, for reading.
    Text,
    /// The snapshot's file list and the whole analysis as JSON.
    Json,
    /// The dependency graph for Graphviz (`dot -Tsvg`).
    Dot,
}

#[derive(Args, Debug)]
struct ConfigArg {
    /// Config file (TOML). Without it, the embedded default.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Repositories to read instead of the config's `input.repos`
    /// (directories, globs, or list files); relative to the current directory.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    input: Vec<String>,
    /// Output directory instead of the config's `output.dir`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Only part K of N (0 <= K < N): the repositories whose stable name hash
    /// falls in K, for N workers (a Slurm array, a Kubernetes indexed job).
    #[arg(long, value_name = "K/N", value_parser = parse_partition)]
    shard: Option<repo2agent_core::ingest::Partition>,
    /// Continue an interrupted run in the same output directory: repositories
    /// it finished are reused, failed ones are tried again; the outputs equal
    /// an uninterrupted run's.
    #[arg(long)]
    resume: bool,
    /// Repositories processed at once (threads) instead of `run.workers`
    /// (default: one per CPU core); the output is the same for any number.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Print what the run's model calls would cost (calls, prompt tokens, the
    /// most completion tokens; per repository and in total) from its real
    /// prompts, without calling a model or writing anything.
    #[arg(long, conflicts_with = "resume")]
    estimate: bool,
    /// `false`: remove the units (OUT/units) once the run has finished, as
    /// `repo2agent clean` does; `--resume` then starts over, and a part of a
    /// sharded run (which `merge` reads from its units) keeps them.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    keep_units: bool,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// The config the parts were run with.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the merged dataset goes (instead of the config's `output.dir`).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The parts' output directories (`run --shard K/N --out DIR`), every part of N once.
    #[arg(required = true, value_name = "PART_DIR")]
    parts: Vec<PathBuf>,
}

fn parse_partition(text: &str) -> Result<repo2agent_core::ingest::Partition, String> {
    repo2agent_core::ingest::Partition::parse(text)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match execute(cli.command, cli.quiet) {
        Ok(code) => code,
        // Output piped into `head` and closed early is not a failure.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn execute(command: Command, quiet: bool) -> anyhow::Result<ExitCode> {
    let mut registry = builtins::registry()?;
    match command {
        Command::Run(args) => run_command(args, &mut registry, quiet),
        Command::Clean(args) => {
            print_cleaned(&args.out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge(args) => {
            let mut cfg = match load(args.config.as_deref(), &mut registry) {
                Ok(c) => c,
                Err(e) => return Ok(config_failed(&e)),
            };
            cfg.output.dir = args.out;
            let progress = progress::RunProgress::new(quiet);
            let report = repo2agent_core::run::merge::merge(&cfg, &args.parts, &progress);
            progress.finish();
            let report = report.context("the merge failed")?;
            print_run_summary(&report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(arg) => match load(arg.config.as_deref(), &mut registry) {
            Ok(cfg) => {
                println!("{}: ok", cfg.source);
                for (kind, name, type_name, origin) in cfg.components() {
                    println!("  {kind:<9} {name:<16} type = {type_name:<16} {origin}");
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Ok(config_failed(&e)),
        },
        Command::Plugins(arg) => {
            let cfg = match &arg.config {
                Some(path) => match config::load(path, &mut registry) {
                    Ok(c) => Some(c),
                    Err(e) => return Ok(config_failed(&e)),
                },
                None => None,
            };
            print_plugins(&registry, cfg.as_ref());
            Ok(ExitCode::SUCCESS)
        }
        Command::Analyze(args) => {
            let cfg = match load(args.config.config.as_deref(), &mut registry) {
                Ok(c) => c,
                Err(e) => return Ok(config_failed(&e)),
            };
            analyze_one(&cfg, &args)
        }
        Command::Inspect(args) if inspect_shards::is_shard_dir(&args.file) => {
            anyhow::ensure!(
                args.html.is_none(),
                "--html is for trajectories; shards print to the terminal"
            );
            let color = match args.color {
                ColorChoice::Auto => std::io::IsTerminal::is_terminal(&std::io::stdout()),
                ColorChoice::Always => true,
                ColorChoice::Never => false,
            };
            inspect_shards::print(&args.file, args.sequence, args.max_tokens, color)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) => {
            let reader = repo2agent_core::shard::MdsReader::open(&args.shards)?;
            let meta = repo2agent_core::shard::DatasetMeta::read(&args.shards)?;
            match args.format {
                ExportFormat::Megatron => {
                    let e = repo2agent_core::shard::megatron::export(&reader, &args.out, meta.tokenizer.vocab_size)?;
                    println!(
                        "megatron: {} sequences, {} tokens -> {} / {} (loss mask: {} / {})",
                        e.sequences,
                        e.tokens_written,
                        e.tokens.0.display(),
                        e.tokens.1.display(),
                        e.loss_mask.0.display(),
                        e.loss_mask.1.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect(args) => {
            let t = inspect::load(&args.file, args.repo.as_deref())?;
            match &args.html {
                Some(out) => {
                    std::fs::write(out, inspect::html(&t)?)
                        .with_context(|| format!("cannot write {}", out.display()))?;
                    println!("wrote {}", out.display());
                }
                None => {
                    let color = match args.color {
                        ColorChoice::Auto => None,
                        ColorChoice::Always => Some(true),
                        ColorChoice::Never => Some(false),
                    };
                    inspect::print_terminal(&t, color)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ablate(args) => {
            let run = repo2agent_trainer::ablation::run(&args.config, &mut registry, args.check, &mut |line| {
                if !quiet {
                    eprintln!("{line}");
                }
            });
            match run {
                Ok(done) => {
                    match done.table {
                        Some(table) => {
                            print!("{table}");
                            println!("ablation: {}", done.out.display());
                        }
                        None => println!("{}: ok", args.config.display()),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(repo2agent_trainer::ablation::AblationError::Config(c)) => Ok(config_failed(&c)),
                Err(e) => Err(anyhow::Error::new(e).context("the ablation failed")),
            }
        }
        Command::Train(args) => train_command(args),
        Command::GgufTokenizer(args) => {
            let file = repo2agent_trainer::gguf::GgufFile::open(&args.gguf)?;
            let json = repo2agent_trainer::gguf_tokenizer::tokenizer_json(&file)?;
            std::fs::write(&args.out, json).with_context(|| format!("cannot write {}", args.out.display()))?;
            println!("wrote {}", args.out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Slurm(args) => {
            let config = std::path::absolute(&args.config)
                .with_context(|| format!("cannot resolve {}", args.config.display()))?;
            if let Err(e) = load(Some(&config), &mut registry) {
                return Ok(config_failed(&e));
            }
            write_slurm(args, config)
        }
        Command::DefaultConfig => {
            print!("{}", config::DEFAULT_CONFIG);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_slurm(args: SlurmArgs, config: PathBuf) -> anyhow::Result<ExitCode> {
    let absolute = |p: &Path| std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()));
    let out = absolute(&args.out)?;
    let scripts = match &args.scripts {
        Some(dir) => absolute(dir)?,
        None => out.join("slurm"),
    };
    let binary = match &args.binary {
        Some(b) => absolute(b)?,
        None => absolute(&std::env::current_exe().context("cannot find this executable")?)?,
    };
    let settings = slurm::Settings {
        binary,
        config,
        out,
        scripts,
        tasks: args.tasks,
        cpus_per_task: args.cpus_per_task,
        mem: args.mem,
        time: args.time,
        partition: args.partition,
        account: args.account,
        extra: args.sbatch,
        max_parallel: args.max_parallel,
    };
    let written = slurm::write(&settings)?;
    let shown = |p: &Path| slurm::sh_quote(&p.to_string_lossy());
    let n = settings.tasks;
    println!(
        "wrote {} ({n} array tasks: run --shard K/{n} --resume -> {})",
        written.worker.display(),
        settings.out.join("parts").join("K").display()
    );
    println!(
        "wrote {} (after all tasks succeed: merge -> {})",
        written.merge.display(),
        settings.out.join("merged").display()
    );
    println!("wrote {}", written.submit.display());
    println!(
        "submit: bash {}   (extra arguments go to both sbatch calls, e.g. --partition=P)",
        shown(&written.submit)
    );
    println!(
        "a failed or cancelled task K: sbatch --array=K {} (it resumes), then sbatch {}",
        shown(&written.worker),
        shown(&written.merge)
    );
    Ok(ExitCode::SUCCESS)
}

fn analyze_one(cfg: &RunConfig, args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    use repo2agent_core::stats::{AnalysisStats, IngestStats};
    let mut ingest_stats = IngestStats::default();
    let repos = repo2agent_core::ingest::expand(&[args.repo.display().to_string()], &mut ingest_stats);
    let repo = repos
        .first()
        .with_context(|| format!("{} is not a readable directory", args.repo.display()))?;
    let (ingestor, analyzers) = pipeline::ingestor(cfg);
    let snapshot = ingestor.snapshot(repo, &mut ingest_stats);
    let mut stats = AnalysisStats::default();
    let analysis = repo2agent_core::analyze::analyze(&snapshot, &analyzers, cfg.run.seed, &mut stats);
    match args.format {
        Format::Text => print!("{}", repo2agent_core::render::analysis_text(&snapshot, &analysis)),
        Format::Dot => print!("{}", repo2agent_core::render::analysis_dot(&snapshot, &analysis)),
        Format::Json => {
            let files: Vec<_> = snapshot
                .files
                .iter()
                .map(|f| serde_json::json!({"id": f.id, "path": f.path, "language": f.language, "bytes": f.text.len()}))
                .collect();
            let out = serde_json::json!({
                "repo": snapshot.name,
                "files": files,
                "analysis": analysis,
                "stats": {"ingest": ingest_stats, "analysis": stats},
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load(path: Option<&Path>, registry: &mut Registry) -> Result<RunConfig, ConfigError> {
    match path {
        Some(p) => config::load(p, registry),
        None => config::parse(
            config::DEFAULT_CONFIG,
            "<default config>",
            &config::current_dir(),
            registry,
        ),
    }
}

fn config_failed(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// `repo2agent run`: the config with the command line's overrides, then the
/// estimate or the run and its summary.
fn run_command(args: RunArgs, registry: &mut Registry, quiet: bool) -> anyhow::Result<ExitCode> {
    let mut cfg = match load(args.config.config.as_deref(), registry) {
        Ok(c) => c,
        Err(e) => return Ok(config_failed(&e)),
    };
    if !args.input.is_empty() {
        cfg.input.repos = args.input.clone();
    }
    if let Some(out) = args.out {
        cfg.output.dir = out;
    }
    cfg.partition = args.shard;
    cfg.resume = args.resume;
    if let Some(w) = args.workers {
        cfg.run.workers = w;
    }
    if args.estimate {
        let e = repo2agent_core::run::estimate::estimate(&cfg).context("the estimate failed")?;
        print_estimate(&e);
        return Ok(ExitCode::SUCCESS);
    }
    if !args.keep_units && cfg.partition.is_some() {
        eprintln!(
            "error: --keep-units=false with --shard: `merge` reads each part's units, so a part keeps them (`repo2agent clean` removes them after the merge)"
        );
        return Ok(ExitCode::from(2));
    }
    let progress = progress::RunProgress::new(quiet);
    let report = pipeline::run_with_progress(&cfg, &progress);
    progress.finish();
    let report = report.context("the run failed")?;
    print_run_summary(&report);
    if !args.keep_units {
        print_cleaned(&cfg.output.dir)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `repo2agent train`: check the TRAIN.toml, or train and print the summary.
fn train_command(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let cfg = match repo2agent_trainer::config::load(&args.config) {
        Ok(c) => c,
        Err(e) => return Ok(config_failed(&e)),
    };
    if args.check {
        println!("{}: ok", args.config.display());
        return Ok(ExitCode::SUCCESS);
    }
    let opts = repo2agent_trainer::train::RunOptions {
        resume: args.resume,
        stop_after: args.stop_after,
    };
    let summary =
        repo2agent_trainer::train::run(&cfg, &opts, &mut |line| eprintln!("{line}")).context("training failed")?;
    println!(
        "trained {} -> {} steps ({} parameters), {:.0} tokens/s; output in {}",
        summary.resumed_from,
        summary.step,
        summary.parameters,
        summary.tokens_per_s,
        cfg.train.output.display()
    );
    if let Some(e) = summary.eval {
        println!(
            "held-out: nll {:.4} (ppl {:.2}) over {} tokens; code nll {:.4} (ppl {:.2}) over {} tokens",
            e.nll, e.ppl, e.tokens, e.code_nll, e.code_ppl, e.code_tokens
        );
    }
    Ok(ExitCode::SUCCESS)
}
