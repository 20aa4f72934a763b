//! `repo2agent run`'s progress: on a terminal a bar of repositories written
//! (of all, ETA, repos/s, MB/s of code, tokens/s, the stage and repository
//! last entered) above one bar per stage (how many repositories entered it:
//! with several workers the stages run ahead of what is written); plain lines
//! on stderr otherwise (the first repository, then at most one line every
//! `REPO2AGENT_PROGRESS_SECS` seconds, default 10, and a last line), with the
//! same counts. `--quiet` turns both off.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use repo2agent_core::run::progress::{Progress, ProgressEvent};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Totals so far.
#[derive(Debug, Default)]
pub struct Counts {
    total: u64,
    done: u64,
    bytes: u64,
    tokens: u64,
    started: Option<Instant>,
    last_line: Option<Instant>,
    /// Repositories that entered each stage, in the order stages were first seen.
    stages: Vec<(&'static str, u64)>,
}

impl Counts {
    fn rates(&self) -> String {
        let secs = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64()).max(1e-9);
        format!(
            "{:.2} repos/s, {:.2} MB/s, {:.0} tokens/s",
            self.done as f64 / secs,
            self.bytes as f64 / 1e6 / secs,
            self.tokens as f64 / secs
        )
    }

    /// Counts a repository entering `stage`; returns its place in `stages`.
    fn enter(&mut self, stage: &'static str) -> usize {
        match self.stages.iter().position(|(s, _)| *s == stage) {
            Some(i) => {
                self.stages[i].1 += 1;
                i
            }
            None => {
                self.stages.push((stage, 1));
                self.stages.len() - 1
            }
        }
    }

    fn stage_counts(&self) -> String {
        let parts: Vec<String> = self.stages.iter().map(|(s, n)| format!("{s} {n}")).collect();
        parts.join(", ")
    }

    fn eta(&self) -> String {
        let Some(started) = self.started else { return "?".into() };
        if self.done == 0 {
            return "?".into();
        }
        let per = started.elapsed().as_secs_f64() / self.done as f64;
        format!("{:.0} s", per * self.total.saturating_sub(self.done) as f64)
    }
}

/// The bars of a terminal.
#[derive(Debug)]
pub struct Bars {
    multi: MultiProgress,
    main: ProgressBar,
    stages: Mutex<Vec<ProgressBar>>,
}

/// Where progress goes.
#[derive(Debug)]
pub enum RunProgress {
    /// Indicatif bars on stderr: repositories written, then one per stage.
    Bar(Bars, Mutex<Counts>),
    /// Plain lines on stderr, at most one per interval.
    Lines(Duration, Mutex<Counts>),
    /// Nothing.
    Off,
}

impl RunProgress {
    /// A bar when stderr is a terminal, lines otherwise, nothing when quiet.
    pub fn new(quiet: bool) -> Self {
        if quiet {
            return RunProgress::Off;
        }
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let multi = MultiProgress::new();
            let main = multi.add(ProgressBar::new(0));
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} repos written (ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            main.set_style(style);
            main.enable_steady_tick(Duration::from_millis(200));
            let bars = Bars {
                multi,
                main,
                stages: Mutex::default(),
            };
            RunProgress::Bar(bars, Mutex::default())
        } else {
            let secs = std::env::var("REPO2AGENT_PROGRESS_SECS")
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .unwrap_or(10.0);
            RunProgress::Lines(Duration::from_secs_f64(secs), Mutex::default())
        }
    }

    /// Clears the bar (the run summary follows).
    pub fn finish(&self) {
        match self {
            RunProgress::Bar(bars, _) => {
                for bar in bars.stages.lock().iter().flat_map(|b| b.iter()) {
                    bar.finish_and_clear();
                }
                bars.main.finish_and_clear();
            }
            RunProgress::Lines(_, counts) => {
                if let Ok(c) = counts.lock()
                    && c.started.is_some()
                {
                    eprintln!(
                        "progress: done, {}/{} repositories; {}; stages entered: {}",
                        c.done,
                        c.total,
                        c.rates(),
                        c.stage_counts()
                    );
                }
            }
            RunProgress::Off => {}
        }
    }
}

impl Progress for RunProgress {
    fn event(&self, event: ProgressEvent<'_>) {
        let (counts, bars) = match self {
            RunProgress::Bar(bars, c) => (c, Some(bars)),
            RunProgress::Lines(_, c) => (c, None),
            RunProgress::Off => return,
        };
        let Ok(mut c) = counts.lock() else { return };
        match event {
            ProgressEvent::Started { repos } => {
                c.total = repos;
                c.started = Some(Instant::now());
                if let Some(b) = bars {
                    b.main.set_length(repos);
                }
            }
            ProgressEvent::Stage { repo, stage } => {
                let i = c.enter(stage);
                if let Some(b) = bars {
                    b.main.set_message(format!("{stage}: {repo} · {}", c.rates()));
                    if let Ok(mut stages) = b.stages.lock() {
                        if i == stages.len() {
                            let bar = b.multi.add(ProgressBar::new(c.total));
                            let style = ProgressStyle::with_template("  {prefix:>9} {bar:30} {pos}/{len}")
                                .unwrap_or_else(|_| ProgressStyle::default_bar());
                            bar.set_style(style);
                            bar.set_prefix(stage);
                            stages.push(bar);
                        }
                        if let Some(bar) = stages.get(i) {
                            bar.set_position(c.stages[i].1);
                        }
                    }
                }
            }
            ProgressEvent::RepoDone { repo, bytes, tokens } => {
                c.done += 1;
                c.bytes += bytes;
                c.tokens += tokens;
                if let Some(b) = bars {
                    b.main.set_position(c.done);
                    b.main.set_message(c.rates());
                } else if let RunProgress::Lines(every, _) = self
                    && c.last_line.is_none_or(|t| t.elapsed() >= *every)
                {
                    c.last_line = Some(Instant::now());
                    eprintln!(
                        "progress: {}/{} repositories (last {repo}); {}; ETA {}; stages entered: {}",
                        c.done,
                        c.total,
                        c.rates(),
                        c.eta(),
                        c.stage_counts()
                    );
                }
            }
            ProgressEvent::Finishing { what } => match bars {
                Some(b) => b.main.set_message(what.to_owned()),
                None => eprintln!("progress: {what}"),
            },
        }
    }
}
