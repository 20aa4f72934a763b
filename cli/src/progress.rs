//! `repo2agent run`'s progress: a bar on a terminal (repositories done of all,
//! ETA, repos/s, MB/s of code, tokens/s, and the stage and repository being
//! worked on), plain lines on stderr otherwise (the first repository, then at
//! most one line every `REPO2AGENT_PROGRESS_SECS` seconds, default 10, and a
//! last line). `--quiet` turns both off.

use indicatif::{ProgressBar, ProgressStyle};
use repo2agent_core::progress::{Progress, ProgressEvent};
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

    fn eta(&self) -> String {
        let Some(started) = self.started else { return "?".into() };
        if self.done == 0 {
            return "?".into();
        }
        let per = started.elapsed().as_secs_f64() / self.done as f64;
        format!("{:.0} s", per * self.total.saturating_sub(self.done) as f64)
    }
}

/// Where progress goes.
#[derive(Debug)]
pub enum RunProgress {
    /// An indicatif bar on stderr.
    Bar(ProgressBar, Mutex<Counts>),
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
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} repos (ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            RunProgress::Bar(bar, Mutex::default())
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
            RunProgress::Bar(bar, _) => bar.finish_and_clear(),
            RunProgress::Lines(_, counts) => {
                if let Ok(c) = counts.lock()
                    && c.started.is_some()
                {
                    eprintln!("progress: done, {}/{} repositories; {}", c.done, c.total, c.rates());
                }
            }
            RunProgress::Off => {}
        }
    }
}

impl Progress for RunProgress {
    fn event(&self, event: ProgressEvent<'_>) {
        let (counts, bar) = match self {
            RunProgress::Bar(bar, c) => (c, Some(bar)),
            RunProgress::Lines(_, c) => (c, None),
            RunProgress::Off => return,
        };
        let Ok(mut c) = counts.lock() else { return };
        match event {
            ProgressEvent::Started { repos } => {
                c.total = repos;
                c.started = Some(Instant::now());
                if let Some(bar) = bar {
                    bar.set_length(repos);
                }
            }
            ProgressEvent::Stage { repo, stage } => {
                if let Some(bar) = bar {
                    bar.set_message(format!("{stage}: {repo} · {}", c.rates()));
                }
            }
            ProgressEvent::RepoDone { repo, bytes, tokens } => {
                c.done += 1;
                c.bytes += bytes;
                c.tokens += tokens;
                if let Some(bar) = bar {
                    bar.set_position(c.done);
                    bar.set_message(c.rates());
                } else if let RunProgress::Lines(every, _) = self
                    && c.last_line.is_none_or(|t| t.elapsed() >= *every)
                {
                    c.last_line = Some(Instant::now());
                    eprintln!(
                        "progress: {}/{} repositories (last {repo}); {}; ETA {}",
                        c.done,
                        c.total,
                        c.rates(),
                        c.eta()
                    );
                }
            }
            ProgressEvent::Finishing { what } => match bar {
                Some(bar) => bar.set_message(what.to_owned()),
                None => eprintln!("progress: {what}"),
            },
        }
    }
}
