//! The scored context: what the trained model will see.
//!
//! The trajectory is flattened by the run's own formatter once, with every
//! thought and every written file replaced by a marker. The flattened text is
//! then a list of literal pieces and slots, so the context of any thought —
//! the flattened prefix up to it, the thought, the markup (and Reads) between
//! it and the Write it leads to — can be rebuilt for any candidate text without
//! formatting again. The target is the real code of that Write.

use crate::StageError;
use crate::model::{AgentId, Episode, Plan, StepKind, ToolCall, Trajectory};
use crate::stage::{FormatInput, Formatter, RepoContext, ScoreRequest, ThinkPhase};

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Which thoughts are searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The thought right before each Write (the paper's setting).
    BeforeWrite,
    /// Every thought of an episode that writes a file later (targets: that file).
    All,
}

/// One searchable thought.
#[derive(Clone, Debug)]
pub struct ThinkSlot {
    /// Agent that owns it.
    pub agent: AgentId,
    /// Index of the step in that agent's episode.
    pub step: usize,
    /// Index of the thought among all thoughts of the trajectory.
    pub think: usize,
    /// Index of the Write it leads to among all Writes.
    pub write: usize,
    /// Its plan step (index into the plan's steps).
    pub plan_step: usize,
    /// Which of the sub-agent's thoughts it is.
    pub phase: ThinkPhase,
    /// The real code scored: the Write's content, cut to the target window.
    pub target: String,
    /// Where every candidate's context begins (piece, characters skipped in
    /// it): the cut the last `context_chars` characters make with the thought
    /// as the policy wrote it, so that all candidates are scored after the same
    /// trajectory prefix (a scorer computes it once for them). `None` when the
    /// thought and what follows it fill the window alone: then each
    /// candidate's context is its own last `context_chars` characters.
    pub start: Option<(usize, usize)>,
}

#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Think(usize),
    Write(usize),
}

/// A trajectory flattened with its thoughts as slots.
#[derive(Debug)]
pub struct ScoredDocument {
    pieces: Vec<Piece>,
    /// Position in `pieces` of each thought and each Write.
    think_at: Vec<usize>,
    write_at: Vec<usize>,
    /// Current text of every thought, in trajectory order.
    pub thinks: Vec<String>,
    writes: Vec<Written>,
    /// The thoughts that can be searched, in trajectory order.
    pub slots: Vec<ThinkSlot>,
    /// The trajectory's plan.
    pub plan: Plan,
    context_chars: usize,
    target_chars: usize,
}

/// Where a thought or a Write sits: the agent, the step index, the episode.
struct Found {
    agent: AgentId,
    step: usize,
    /// (write index, whether the thought is the one right before it)
    next_write: Option<(usize, bool)>,
}

/// A written file: its path and real content.
#[derive(Debug)]
struct Written {
    agent: AgentId,
    path: String,
    content: String,
}

fn marker(kind: char, n: usize) -> String {
    format!("{OPEN}{kind}{n}{CLOSE}")
}

/// Replaces thoughts and written files by markers, in walk order, collecting
/// their texts and where each thought leads.
fn mark(e: &mut Episode, thinks: &mut Vec<(String, Found)>, writes: &mut Vec<Written>) {
    // First pass over this episode's own steps: which Write follows each thought.
    let own_writes: Vec<(usize, usize)> = {
        let mut n = writes.len();
        let mut v = Vec::new();
        // Count Writes in nested episodes before each step so indices match walk order.
        for (i, s) in e.steps.iter().enumerate() {
            match &s.kind {
                StepKind::Action {
                    call: ToolCall::Write { .. },
                } => {
                    v.push((i, n));
                    n += 1;
                }
                StepKind::Delegate { episode } => n += count_writes(episode),
                _ => {}
            }
        }
        v
    };
    for i in 0..e.steps.len() {
        let agent = e.steps[i].agent.clone();
        let next_write = own_writes.iter().find(|(at, _)| *at > i).map(|&(at, w)| {
            // The thought right before the Write: no action and no other thought between.
            let next_action = e.steps[i + 1..at].iter().all(|s| {
                !matches!(
                    s.kind,
                    StepKind::Action { .. } | StepKind::Delegate { .. } | StepKind::Think { .. }
                )
            });
            (w, next_action)
        });
        match &mut e.steps[i].kind {
            StepKind::Think { text } => {
                let found = Found {
                    agent,
                    step: i,
                    next_write,
                };
                let text = std::mem::replace(text, marker('T', thinks.len()));
                thinks.push((text, found));
            }
            StepKind::Action {
                call: ToolCall::Write { path, content },
            } => {
                let content = std::mem::replace(content, marker('W', writes.len()));
                writes.push(Written {
                    agent,
                    path: path.clone(),
                    content,
                });
            }
            StepKind::Delegate { episode } => mark(episode, thinks, writes),
            _ => {}
        }
    }
}

fn count_writes(e: &Episode) -> usize {
    e.walk()
        .iter()
        .filter(|s| {
            matches!(
                s.kind,
                StepKind::Action {
                    call: ToolCall::Write { .. }
                }
            )
        })
        .count()
}

/// Writes `thinks` back into the trajectory's Think steps (walk order).
pub fn apply(trajectory: &mut Trajectory, thinks: &[String]) {
    fn go(e: &mut Episode, thinks: &[String], at: &mut usize) {
        for s in &mut e.steps {
            match &mut s.kind {
                StepKind::Think { text } => {
                    if let Some(t) = thinks.get(*at) {
                        text.clone_from(t);
                    }
                    *at += 1;
                }
                StepKind::Delegate { episode } => go(episode, thinks, at),
                _ => {}
            }
        }
    }
    go(&mut trajectory.main, thinks, &mut 0);
}

fn prefix_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn suffix_chars(s: &str, n: usize) -> &str {
    let count = s.chars().count();
    if count <= n {
        return s;
    }
    match s.char_indices().nth(count - n) {
        Some((i, _)) => &s[i..],
        None => "",
    }
}

impl ScoredDocument {
    /// Flattens `trajectory` with `formatter`; `context_chars` bounds every
    /// context (its last characters are kept), `target_chars` every target (its
    /// first characters).
    pub fn new(
        trajectory: &Trajectory,
        repo: RepoContext<'_>,
        formatter: &dyn Formatter,
        scope: Scope,
        context_chars: usize,
        target_chars: usize,
    ) -> Result<Self, StageError> {
        let plan = trajectory
            .main
            .steps
            .iter()
            .find_map(|s| match &s.kind {
                StepKind::Plan { plan } => Some(plan.clone()),
                _ => None,
            })
            .ok_or_else(|| StageError::Invalid("the trajectory has no plan".into()))?;
        let mut marked = trajectory.clone();
        // Reads show their file's bytes (not its Write's marker below).
        if let Some(path) = marked.expand_observations().first() {
            return Err(StageError::Invalid(format!(
                "an observation of {path} that the trajectory never wrote"
            )));
        }
        let (mut found, mut writes) = (Vec::new(), Vec::new());
        mark(&mut marked.main, &mut found, &mut writes);
        let segments = formatter.format(FormatInput {
            snapshot: repo.snapshot,
            order: repo.order,
            trajectory: Some(&marked),
        })?;
        let text: String = segments.iter().map(|s| s.text.as_str()).collect();
        let pieces = split(&text);
        let mut think_at = vec![usize::MAX; found.len()];
        let mut write_at = vec![usize::MAX; writes.len()];
        for (i, p) in pieces.iter().enumerate() {
            let (slot, n) = match p {
                Piece::Think(n) => (&mut think_at, *n),
                Piece::Write(n) => (&mut write_at, *n),
                Piece::Text(_) => continue,
            };
            match slot.get_mut(n) {
                Some(at) if *at == usize::MAX => *at = i,
                _ => {
                    return Err(StageError::Invalid(
                        "the format renders a thought or a written file more than once; search needs each once".into(),
                    ));
                }
            }
        }
        let mut slots = Vec::new();
        let mut thinks = Vec::with_capacity(found.len());
        for (n, (text, f)) in found.into_iter().enumerate() {
            thinks.push(text);
            let Some((w, next_action)) = f.next_write else {
                continue;
            };
            if think_at[n] == usize::MAX || write_at[w] == usize::MAX || write_at[w] < think_at[n] {
                continue; // the format does not show this thought before its code
            }
            if scope == Scope::BeforeWrite && !next_action {
                continue;
            }
            let target = prefix_chars(&writes[w].content, target_chars).to_owned();
            if target.trim().is_empty() {
                continue;
            }
            let Some(plan_step) = plan.steps.iter().position(|s| s.path == writes[w].path) else {
                continue;
            };
            slots.push(ThinkSlot {
                agent: f.agent,
                step: f.step,
                think: n,
                write: w,
                plan_step,
                phase: if next_action {
                    ThinkPhase::BeforeWriting
                } else {
                    ThinkPhase::BeforeReading
                },
                target,
                start: None,
            });
        }
        let mut doc = Self {
            pieces,
            think_at,
            write_at,
            thinks,
            writes,
            slots,
            plan,
            context_chars,
            target_chars,
        };
        for i in 0..doc.slots.len() {
            let (write, think) = (doc.slots[i].write, doc.slots[i].think);
            doc.slots[i].start = doc.cut(doc.write_at[write], doc.think_at[think]);
        }
        Ok(doc)
    }

    /// Where the last `context_chars` characters before piece `end` begin
    /// with the current thoughts (piece, characters skipped in it), if that is
    /// before piece `bound` (see [`ThinkSlot::start`]).
    fn cut(&self, end: usize, bound: usize) -> Option<(usize, usize)> {
        let mut chars = 0;
        for i in (0..end).rev() {
            chars += self.piece_text(&self.pieces[i], None).chars().count();
            if chars >= self.context_chars {
                return (i < bound).then_some((i, chars - self.context_chars));
            }
        }
        Some((0, 0))
    }

    /// Where the window of Write `write`'s code begins with the current
    /// thoughts, when that is before the last thought before the Write: what
    /// [`ScoredDocument::code_request_from`] takes to score another version of
    /// the trajectory (the same pieces, other thoughts) after the same prefix.
    pub fn window_start(&self, write: usize) -> Option<(usize, usize)> {
        let end = *self.write_at.get(write)?;
        if end == usize::MAX {
            return None;
        }
        let bound = (0..end)
            .rev()
            .find(|&i| matches!(self.pieces[i], Piece::Think(_)))
            .unwrap_or(end);
        self.cut(end, bound)
    }

    /// The text of pieces `start..end` (the first piece without its first
    /// `start.1` characters), thought `replaced.0` read as `replaced.1`.
    fn text_from(&self, start: (usize, usize), end: usize, replaced: Option<(usize, &str)>) -> String {
        let (first, skip) = start;
        let head = self.piece_text(&self.pieces[first], replaced);
        let head = suffix_chars(head, head.chars().count().saturating_sub(skip));
        std::iter::once(head)
            .chain(self.pieces[first + 1..end].iter().map(|p| self.piece_text(p, replaced)))
            .collect()
    }

    fn piece_text<'s>(&'s self, p: &'s Piece, replaced: Option<(usize, &'s str)>) -> &'s str {
        match p {
            Piece::Text(t) => t,
            Piece::Think(n) if replaced.is_some_and(|(r, _)| r == *n) => replaced.map_or("", |(_, c)| c),
            Piece::Think(n) => &self.thinks[*n],
            Piece::Write(n) => &self.writes[*n].content,
        }
    }

    /// The last `context_chars` characters of the pieces in `range`, with
    /// thought `replaced.0` read as `replaced.1`.
    fn window(&self, range: std::ops::Range<usize>, replaced: Option<(usize, &str)>) -> String {
        let mut parts: Vec<&str> = Vec::new();
        let mut chars = 0;
        for p in self.pieces[range].iter().rev() {
            let t = self.piece_text(p, replaced);
            chars += t.chars().count();
            parts.push(t);
            if chars >= self.context_chars {
                break;
            }
        }
        parts.reverse();
        let joined: String = parts.concat();
        suffix_chars(&joined, self.context_chars).to_owned()
    }

    /// The scored pair of `slot` with `candidate` as its thought: the prefix,
    /// the thought and what follows up to the Write's code, then the code.
    ///
    /// Every candidate's context begins where the policy's thought put the
    /// window's start ([`ThinkSlot::start`]), so a longer candidate makes a
    /// longer context rather than pushing the prefix out: all are compared
    /// after the same prefix, and with the policy's thought this is exactly
    /// [`ScoredDocument::code_request`]'s window.
    pub fn request(&self, slot: &ThinkSlot, candidate: &str) -> ScoreRequest {
        let end = self.write_at[slot.write];
        let replaced = Some((slot.think, candidate));
        let context = match slot.start {
            Some(start) => self.text_from(start, end, replaced),
            None => self.window(0..end, replaced),
        };
        ScoreRequest {
            context,
            target: slot.target.clone(),
        }
    }

    /// The pair scoring the thought itself after its prefix (for p(z | prefix)).
    pub fn think_request(&self, slot: &ThinkSlot, candidate: &str) -> ScoreRequest {
        ScoreRequest {
            context: self.window(0..self.think_at[slot.think], Some((slot.think, candidate))),
            target: candidate.to_owned(),
        }
    }
}

impl ScoredDocument {
    /// The written files, in trajectory order: (Write index, the agent that
    /// wrote it, its path).
    pub fn written(&self) -> impl Iterator<Item = (usize, &AgentId, &str)> {
        self.writes
            .iter()
            .enumerate()
            .map(|(i, w)| (i, &w.agent, w.path.as_str()))
    }

    /// The pair scoring the code of Write `write` after the flattened
    /// trajectory before it, with the current thoughts; `None` when the format
    /// does not show that Write or its code window is blank.
    pub fn code_request(&self, write: usize) -> Option<ScoreRequest> {
        self.code_request_from(write, None)
    }

    /// [`ScoredDocument::code_request`] with the window beginning at `start`
    /// (another version's [`ScoredDocument::window_start`]); `None`: its own
    /// last `context_chars` characters.
    pub fn code_request_from(&self, write: usize, start: Option<(usize, usize)>) -> Option<ScoreRequest> {
        let at = *self.write_at.get(write)?;
        if at == usize::MAX {
            return None;
        }
        let target = prefix_chars(&self.writes[write].content, self.target_chars);
        if target.trim().is_empty() {
            return None;
        }
        let context = match start {
            Some(start) if start.0 < at => self.text_from(start, at, None),
            _ => self.window(0..at, None),
        };
        Some(ScoreRequest {
            context,
            target: target.to_owned(),
        })
    }
}

/// Splits flattened text into literal pieces and markers.
fn split(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(open) = rest.find(OPEN) {
        literal.push_str(&rest[..open]);
        let after = &rest[open + OPEN.len_utf8()..];
        let parsed = after.find(CLOSE).and_then(|close| {
            let inner = &after[..close];
            let mut chars = inner.chars();
            let kind = chars.next()?;
            let n: usize = chars.as_str().parse().ok()?;
            let piece = match kind {
                'T' => Piece::Think(n),
                'W' => Piece::Write(n),
                _ => return None,
            };
            Some((piece, close + CLOSE.len_utf8()))
        });
        match parsed {
            Some((piece, len)) => {
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(piece);
                rest = &after[len..];
            }
            None => {
                literal.push(OPEN);
                rest = after;
            }
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_split_and_unknown_ones_stay_text() {
        let p = split("a\u{E000}T0\u{E001}b\u{E000}W12\u{E001}\u{E000}X1\u{E001}c");
        let shown: Vec<String> = p
            .iter()
            .map(|p| match p {
                Piece::Text(t) => format!("text:{t}"),
                Piece::Think(n) => format!("think:{n}"),
                Piece::Write(n) => format!("write:{n}"),
            })
            .collect();
        assert_eq!(
            shown,
            ["text:a", "think:0", "text:b", "write:12", "text:\u{E000}X1\u{E001}c"]
        );
    }

    fn doc(pieces: Vec<Piece>, context_chars: usize) -> ScoredDocument {
        let mut d = ScoredDocument {
            pieces,
            think_at: vec![1],
            write_at: vec![3],
            thinks: vec!["policy's thought".into()],
            writes: vec![Written {
                agent: AgentId("sub-1".into()),
                path: "a.rs".into(),
                content: "fn a() {}\n".into(),
            }],
            slots: vec![ThinkSlot {
                agent: AgentId("sub-1".into()),
                step: 0,
                think: 0,
                write: 0,
                plan_step: 0,
                phase: ThinkPhase::BeforeWriting,
                target: "fn a() {}\n".into(),
                start: None,
            }],
            plan: Plan {
                requirements: String::new(),
                steps: Vec::new(),
            },
            context_chars,
            target_chars: 100,
        };
        d.slots[0].start = d.cut(3, 1);
        d
    }

    #[test]
    fn every_candidate_is_scored_after_the_same_prefix() {
        let pieces = || {
            vec![
                Piece::Text("0123456789abcdefghij".into()),
                Piece::Think(0),
                Piece::Text("|between|".into()),
                Piece::Write(0),
            ]
        };
        // 16 + 9 characters of thought and markup, 5 of the prefix: "fghij".
        let d = doc(pieces(), 30);
        assert_eq!(d.slots[0].start, Some((0, 15)));
        let policy = d.request(&d.slots[0], "policy's thought");
        assert_eq!(policy.context, "fghijpolicy's thought|between|");
        assert_eq!(
            policy,
            d.code_request(0).unwrap(),
            "the policy's thought: the plain window"
        );
        assert_eq!(d.window_start(0), d.slots[0].start);
        // Another version of the trajectory (the search's kept thought) scored
        // from the policy's start: exactly the search's request for it.
        let mut searched = doc(pieces(), 30);
        searched.thinks[0] = "a much longer kept thought".into();
        assert_eq!(
            searched.code_request_from(0, d.window_start(0)).unwrap(),
            d.request(&d.slots[0], "a much longer kept thought")
        );
        assert_ne!(
            searched.code_request(0),
            searched.code_request_from(0, d.window_start(0))
        );
        for candidate in ["short", "a much longer rewrite of the same thought, past the window"] {
            let r = d.request(&d.slots[0], candidate);
            assert_eq!(r.context, format!("fghij{candidate}|between|"));
            assert_eq!(r.target, "fn a() {}\n");
        }
        // A window larger than the whole prefix starts at its beginning.
        let d = doc(pieces(), 1000);
        assert_eq!(d.slots[0].start, Some((0, 0)));
        assert!(d.request(&d.slots[0], "x").context.starts_with("0123456789"));
        // A thought that fills the window alone: each candidate's own last characters.
        let d = doc(pieces(), 12);
        assert_eq!(d.slots[0].start, None);
        assert_eq!(d.request(&d.slots[0], "a long candidate").context, "ate|between|");
    }

    #[test]
    fn windows_cut_on_characters() {
        assert_eq!(suffix_chars("héllo", 3), "llo");
        assert_eq!(suffix_chars("hé", 5), "hé");
        assert_eq!(prefix_chars("héllo", 2), "hé");
        assert_eq!(prefix_chars("hé", 9), "hé");
    }
}
