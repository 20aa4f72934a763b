//! Evaluation of a model on held-out repositories, for the paper's ablations
//! (issue #9): the same numbers for a model trained on raw repositories and one
//! trained on trajectories, because the input is format-neutral.
//!
//! **Rendering.** A file is shown to the model as `"### {path}\n{text}"`,
//! followed by `"\n"` when the text does not end in one ([`render_file`]). The
//! header line and the content are tokenized *separately* and their ids
//! concatenated, so which tokens are header and which are content is exact.
//! Nothing else is added: no BOS/EOS, no agent markers — except that when the
//! tokenizer has a BOS id ([`TokenizerInfo::bos`]) every forward pass starts
//! with it. A token is scored from the positions before it *in the same
//! forward pass*.
//!
//! **Measures** (each per repository and overall):
//!
//! 1. **Code NLL in dependency order** ([`CodeNll`]): a repository's files in
//!    order, rendered and concatenated, cut to at most `max_tokens_per_repo`
//!    tokens (0: no limit), in consecutive windows of `context` tokens (BOS
//!    included) without overlap: each window is its own forward pass and starts
//!    cold. Only *content* tokens are scored (never the `### path` lines);
//!    without a BOS the first token of each window has nothing before it and is
//!    not scored. Overall: weighted by tokens.
//! 2. **Cross-file NLL** ([`CrossFileNll`]): for the first `max_cross_files`
//!    files of a repository that import another file, the NLL of their first
//!    `context / 2` content tokens (at most) with the imported files rendered
//!    before them (in order; the concatenation's *last* tokens, so that all fits
//!    in `context`), and with only their own header. The mean of each over
//!    files and the gain (without − with). Overall: weighted by files.
//!    **Cross-file probe** ([`CrossFileProbe`]), from the same forward
//!    passes: in each of those files, the first use of each name (4+
//!    characters) that a file it imports declares at its top level
//!    ([`HeldoutFile::defines`]) and it does not — mostly the import line
//!    itself, where only the imported file can tell the name — at most
//!    [`PROBE_NAMES_PER_FILE`] per file, within the scored tokens. Measured
//!    with and without the imported files: the name's tokens' mean NLL and
//!    greedy exact match (as for retrieval). Overall: weighted by names.
//! 3. **Retrieval probe** (Ruler-style, [`RetrievalResult`]): a sequence of
//!    exactly `L` tokens: BOS (if any), the needle `"const KEY_{word} = {value};\n"`
//!    (`word`: 6 random lowercase letters; `value`: a random 6-digit number),
//!    held-out repository content as haystack, the query
//!    `"\nassert_eq!(KEY_{word}, "` and the value's tokens. Measured: the
//!    value tokens' mean NLL and exact match of the argmax at each value
//!    position given the true prefix (teacher-forced argmax is right at every
//!    position exactly when greedy decoding produces the value, so this is
//!    greedy exact match). Probe `i` at length `L` is seeded by (`seed`, `L`,
//!    `i`); its haystack starts in repository `i mod repos` at a seeded token
//!    offset and continues through the next repositories, cycling. It counts
//!    for the repository it starts in. Overall: weighted by probes. With
//!    `retrieval_distractors` = D > 0 (Ruler's multi-key variant) the probe
//!    holds D + 1 needles with distinct keys and values, each a line
//!    `"\nconst KEY_{word} = {value};\n"` at a seeded place in the haystack in
//!    a seeded order, and the query asks for one of them: the model must find
//!    the right key, not just the one number in sight.
//!
//! **Cost**: batch size 1, no autodiff ([`Module::valid`]); the logits are
//! projected 256 positions at a time, so their memory is 256 × vocab whatever
//! the length. Attention is the model's own: for long probes give the model
//! the chunked attention ([`Llama::with_attention`]) to avoid the `L × L` scores.
//!
//! **Errors**: no repositories, a repository without files, a file with empty
//! text (leave them out: there is no content to score), an import that is not
//! an earlier file, `context < 16`, or a retrieval length shorter than the
//! probe's needles, query and value plus [`MIN_HAYSTACK`] tokens are
//! [`TrainError::Invalid`]. Means over nothing are NaN (`null` in JSON).
//!
//! [`TokenizerInfo::bos`]: repo2agent_core::stage::TokenizerInfo::bos

use std::ops::Range;

use burn::module::Module;
use burn::tensor::Device;
use repo2agent_core::stage::TokenEncoder;

use crate::data::{Example, SplitMix64};
use crate::model::{Inputs, Llama};
use crate::train::{TrainError, token_nll};

/// Positions projected to logits at once: bounds the logits' memory to this × vocab.
const LOGIT_CHUNK: usize = 256;

/// Haystack tokens a retrieval probe must have at least.
pub const MIN_HAYSTACK: usize = 8;

/// The smallest `context` accepted.
pub const MIN_CONTEXT: usize = 16;

/// One file of a held-out repository, in the repository's dependency order
/// (dependencies first).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeldoutFile {
    /// Path inside the repository (shown in the `### path` line).
    pub path: String,
    /// The file's text (not empty).
    pub text: String,
    /// Indices (into the repository's files) of the files it imports, all
    /// earlier in the order.
    #[serde(default)]
    pub deps: Vec<usize>,
    /// The names it declares at its top level (functions, types, constants:
    /// its outline's), for the cross-file probe.
    #[serde(default)]
    pub defines: Vec<String>,
}

/// A held-out repository.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeldoutRepo {
    /// Its name (in the report).
    pub name: String,
    /// Its files in dependency order.
    pub files: Vec<HeldoutFile>,
}

/// What to measure and how much.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeldoutSettings {
    /// Tokens per forward pass (BOS included) of the code and cross-file NLL.
    pub context: usize,
    /// Tokens of a repository's rendered files the code NLL reads (0: all).
    pub max_tokens_per_repo: usize,
    /// Files with imports measured per repository (the first in order).
    pub max_cross_files: usize,
    /// Lengths (tokens) of the retrieval probes.
    pub retrieval_lengths: Vec<usize>,
    /// Retrieval probes per length.
    pub probes: usize,
    /// Other key–value needles in each retrieval probe besides the one asked
    /// for (0: one needle, first).
    #[serde(default)]
    pub retrieval_distractors: usize,
    /// Seed of the probes.
    pub seed: u64,
}

impl Default for HeldoutSettings {
    fn default() -> Self {
        Self {
            context: 1024,
            max_tokens_per_repo: 65_536,
            max_cross_files: 32,
            retrieval_lengths: vec![512, 1024, 2048],
            probes: 20,
            retrieval_distractors: 0,
            seed: 0,
        }
    }
}

/// A mean read back from JSON: `null` (how a NaN mean over nothing is
/// written) is NaN again, so that a report round-trips.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Code NLL in dependency order.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CodeNll {
    /// Mean NLL (nats/token) of the content tokens scored.
    #[serde(deserialize_with = "null_as_nan")]
    pub nll: f64,
    /// `exp(nll)`.
    #[serde(deserialize_with = "null_as_nan")]
    pub ppl: f64,
    /// Content tokens scored.
    pub tokens: u64,
    /// Forward passes.
    pub windows: u64,
}

/// Cross-file NLL: a file's content with and without the files it imports before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrossFileNll {
    /// Files measured.
    pub files: u64,
    /// Mean over files of the content's mean NLL with the imports before it.
    #[serde(deserialize_with = "null_as_nan")]
    pub with_deps: f64,
    /// Mean over files of the content's mean NLL after only its own header.
    #[serde(deserialize_with = "null_as_nan")]
    pub without_deps: f64,
    /// `without_deps − with_deps` (positive: the imports help).
    #[serde(deserialize_with = "null_as_nan")]
    pub gain: f64,
    /// Content tokens scored per condition.
    pub tokens: u64,
}

/// Cross-file probe: the names a file uses that a file it imports declares,
/// each at its first use (mostly the import itself), with and without the
/// imported files before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrossFileProbe {
    /// Names probed.
    pub probes: u64,
    /// Share of them the model gets exactly (greedy) with the imported files before the file.
    #[serde(deserialize_with = "null_as_nan")]
    pub exact_with_deps: f64,
    /// The same after only the file's own header.
    #[serde(deserialize_with = "null_as_nan")]
    pub exact_without_deps: f64,
    /// Mean over names of their tokens' mean NLL with the imported files before the file.
    #[serde(deserialize_with = "null_as_nan")]
    pub nll_with_deps: f64,
    /// The same after only the file's own header.
    #[serde(deserialize_with = "null_as_nan")]
    pub nll_without_deps: f64,
}

/// Retrieval probes of one length.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetrievalResult {
    /// Probe length `L` (tokens).
    pub length: usize,
    /// Probes run.
    pub probes: u64,
    /// Share of probes whose value the model gets exactly (greedy).
    #[serde(deserialize_with = "null_as_nan")]
    pub accuracy: f64,
    /// Mean over probes of the value tokens' mean NLL.
    #[serde(deserialize_with = "null_as_nan")]
    pub value_nll: f64,
}

/// The measures of one repository.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RepoHeldout {
    /// The repository's name.
    pub name: String,
    /// Its files.
    pub files: u64,
    /// Its code NLL.
    pub code: CodeNll,
    /// Its cross-file NLL.
    pub cross_file: CrossFileNll,
    /// Its cross-file probe.
    #[serde(default)]
    pub cross_probe: CrossFileProbe,
    /// The probes whose haystack starts in it, per length.
    pub retrieval: Vec<RetrievalResult>,
}

/// What [`evaluate_heldout`] measured.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeldoutReport {
    /// Per repository, in the order given.
    pub repos: Vec<RepoHeldout>,
    /// Over all repositories (weighted by tokens).
    pub code: CodeNll,
    /// Over all repositories (weighted by files).
    pub cross_file: CrossFileNll,
    /// Over all repositories (weighted by names).
    #[serde(default)]
    pub cross_probe: CrossFileProbe,
    /// Over all repositories, per length (weighted by probes).
    pub retrieval: Vec<RetrievalResult>,
    /// The settings used.
    pub settings: HeldoutSettings,
    /// The measured units behind the means, for paired intervals.
    #[serde(default)]
    pub units: HeldoutUnits,
}

/// The units each mean is made of, in a fixed order: every model evaluated
/// with the same tokenizer, settings and held-out set has the same units, so
/// two models can be compared unit by unit (a paired bootstrap).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeldoutUnits {
    /// Code NLL: (NLL sum, content tokens) of each window, repositories in order.
    pub code: Vec<(f64, u64)>,
    /// Cross-file NLL: (mean NLL with the imports before it, without) of each file measured.
    pub cross_file: Vec<(f64, f64)>,
    /// Retrieval: the value's mean NLL of each probe, per length.
    pub retrieval: Vec<Vec<f64>>,
    /// Cross-file probe: each name's [`NameUnit`].
    #[serde(default)]
    pub cross_probe: Vec<NameUnit>,
}

/// A cross-file probe's name: (its tokens' mean NLL with the imported files
/// before the file, without, exact with, exact without).
pub type NameUnit = (f64, f64, bool, bool);

/// One retrieval probe: `ids` = BOS (if any) + needle + haystack + query +
/// value; with distractors, BOS + the haystack with every needle (the one
/// asked for among them) inserted at seeded places + query + value.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrievalProbe {
    /// The whole sequence (`length` tokens).
    pub ids: Vec<u32>,
    /// Tokens before the haystack (1 with a BOS, else 0).
    pub prefix_len: usize,
    /// Tokens of the needle asked for.
    pub needle_len: usize,
    /// Where that needle starts in `ids`.
    pub needle_at: usize,
    /// The other needles' keys, in the order they appear.
    pub distractors: Vec<String>,
    /// Tokens of the other needles together.
    pub distractors_len: usize,
    /// Tokens of the haystack (without the needles).
    pub haystack_len: usize,
    /// Tokens of the query.
    pub query_len: usize,
    /// Where the value's tokens are in `ids` (its end is `ids.len()`).
    pub value: Range<usize>,
    /// The key's name (`KEY_{word}`).
    pub key: String,
    /// The value (6 digits).
    pub value_text: String,
    /// The repository the haystack starts in.
    pub repo: usize,
    /// The token offset it starts at (in that repository's rendered files).
    pub offset: usize,
}

/// The header line of a file: `"### {path}\n"`.
pub fn render_header(path: &str) -> String {
    format!("### {path}\n")
}

/// A file's content as shown: its text, with `"\n"` added when it does not end in one.
pub fn render_content(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

/// A file as shown to the model: [`render_header`] then [`render_content`].
pub fn render_file(file: &HeldoutFile) -> String {
    render_header(&file.path) + &render_content(&file.text)
}

/// A repository's files as token ids: (header, content) per file.
#[derive(Debug)]
struct Tokenized {
    files: Vec<(Vec<u32>, Vec<u32>)>,
}

impl Tokenized {
    /// The rendered files concatenated, and whether each token is content.
    fn stream(&self) -> (Vec<u32>, Vec<bool>) {
        let mut ids = Vec::new();
        let mut content = Vec::new();
        for (h, c) in &self.files {
            ids.extend_from_slice(h);
            content.extend(std::iter::repeat_n(false, h.len()));
            ids.extend_from_slice(c);
            content.extend(std::iter::repeat_n(true, c.len()));
        }
        (ids, content)
    }

    /// File `i` rendered (header + content ids).
    fn rendered(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        let (h, c) = &self.files[i];
        h.iter().chain(c).copied()
    }
}

fn encode(encoder: &dyn TokenEncoder, text: &str, what: &dyn Fn() -> String) -> Result<Vec<u32>, TrainError> {
    encoder
        .encode(text)
        .map_err(|e| TrainError::Invalid(format!("tokenizing {}: {e}", what())))
}

/// Checks the repositories and tokenizes them.
fn tokenize(encoder: &dyn TokenEncoder, repos: &[HeldoutRepo]) -> Result<Vec<Tokenized>, TrainError> {
    if repos.is_empty() {
        return Err(TrainError::Invalid(
            "held-out evaluation needs at least one repository".into(),
        ));
    }
    repos
        .iter()
        .map(|repo| {
            if repo.files.is_empty() {
                return Err(TrainError::Invalid(format!(
                    "held-out repository {}: no files",
                    repo.name
                )));
            }
            let files = repo
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let what = || format!("{}/{}", repo.name, f.path);
                    if f.text.is_empty() {
                        return Err(TrainError::Invalid(format!(
                            "held-out file {}: empty text (leave empty files out)",
                            what()
                        )));
                    }
                    if let Some(d) = f.deps.iter().find(|d| **d >= i) {
                        return Err(TrainError::Invalid(format!(
                            "held-out file {} (file {i}) imports file {d}, which is not earlier in the order",
                            what()
                        )));
                    }
                    let header = encode(encoder, &render_header(&f.path), &what)?;
                    if header.is_empty() {
                        return Err(TrainError::Invalid(format!(
                            "{}: the header encodes to no tokens",
                            what()
                        )));
                    }
                    Ok((header, encode(encoder, &render_content(&f.text), &what)?))
                })
                .collect::<Result<_, _>>()?;
            Ok(Tokenized { files })
        })
        .collect()
}

/// For each target index `j` in `targets` (`1 ≤ j`, `j < ids.len()`): the NLL of
/// `ids[j]` given `ids[..j]`, and (with `argmax`) the most likely token there.
fn score(model: &Llama, ids: &[u32], targets: Range<usize>, argmax: bool, device: &Device) -> (Vec<f32>, Vec<u32>) {
    let (mut nll, mut pred) = (Vec::with_capacity(targets.len()), Vec::new());
    if targets.is_empty() {
        return (nll, pred);
    }
    debug_assert!(targets.start >= 1 && targets.end <= ids.len());
    let e = Example::from_document(ids);
    let h = model.hidden(&Inputs::from_examples(std::slice::from_ref(&e), device));
    let mut j = targets.start;
    while j < targets.end {
        let n = (targets.end - j).min(LOGIT_CHUNK);
        let logits = model.logits(h.clone().narrow(1, j - 1, n));
        if argmax {
            pred.extend(logits.clone().argmax(2).into_data().iter::<i64>().map(|x| x as u32));
        }
        nll.extend(token_nll(logits, &ids[j..j + n]));
        j += n;
    }
    (nll, pred)
}

fn mean(sum: f64, n: u64) -> f64 {
    if n > 0 { sum / n as f64 } else { f64::NAN }
}

/// Sums behind the reported means.
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    code: (f64, u64, u64),
    cross: (f64, f64, u64, u64),
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.code.0 += o.code.0;
        self.code.1 += o.code.1;
        self.code.2 += o.code.2;
        self.cross.0 += o.cross.0;
        self.cross.1 += o.cross.1;
        self.cross.2 += o.cross.2;
        self.cross.3 += o.cross.3;
    }

    fn code(&self) -> CodeNll {
        let nll = mean(self.code.0, self.code.1);
        CodeNll {
            nll,
            ppl: nll.exp(),
            tokens: self.code.1,
            windows: self.code.2,
        }
    }

    fn cross(&self) -> CrossFileNll {
        let (with_deps, without_deps) = (mean(self.cross.0, self.cross.2), mean(self.cross.1, self.cross.2));
        CrossFileNll {
            files: self.cross.2,
            with_deps,
            without_deps,
            gain: without_deps - with_deps,
            tokens: self.cross.3,
        }
    }
}

/// Probe sums: (probes, exact, value NLL sum).
#[derive(Clone, Copy, Debug, Default)]
struct ProbeSums(u64, u64, f64);

impl ProbeSums {
    fn result(&self, length: usize) -> RetrievalResult {
        RetrievalResult {
            length,
            probes: self.0,
            accuracy: mean(self.1 as f64, self.0),
            value_nll: mean(self.2, self.0),
        }
    }
}

/// Code NLL of one repository: (NLL sum, tokens, windows), each window's
/// (NLL sum, tokens) appended to `units`.
fn code_nll(
    model: &Llama,
    prefix: &[u32],
    t: &Tokenized,
    s: &HeldoutSettings,
    device: &Device,
    units: &mut Vec<(f64, u64)>,
) -> (f64, u64, u64) {
    let (mut stream, mut content) = t.stream();
    if s.max_tokens_per_repo > 0 {
        stream.truncate(s.max_tokens_per_repo);
        content.truncate(s.max_tokens_per_repo);
    }
    let per_window = s.context - prefix.len();
    let (mut sum, mut n, mut windows) = (0f64, 0u64, 0u64);
    for a in (0..stream.len()).step_by(per_window) {
        let b = (a + per_window).min(stream.len());
        // Target j of the window is stream token a + j - prefix.len().
        let first = (a..b).position(|i| content[i]);
        let last = (a..b).rposition(|i| content[i]);
        let (Some(first), Some(last)) = (first, last) else {
            continue;
        };
        let lo = (first + prefix.len()).max(1);
        let hi = last + prefix.len() + 1;
        if lo >= hi {
            continue;
        }
        let ids: Vec<u32> = prefix.iter().chain(&stream[a..b]).copied().collect();
        let (nll, _) = score(model, &ids, lo..hi, false, device);
        windows += 1;
        let (mut window_sum, mut window_n) = (0f64, 0u64);
        for (k, l) in nll.iter().enumerate() {
            if content[a + lo + k - prefix.len()] {
                sum += f64::from(*l);
                n += 1;
                window_sum += f64::from(*l);
                window_n += 1;
            }
        }
        units.push((window_sum, window_n));
    }
    (sum, n, windows)
}

/// Names probed per file by the cross-file probe, at most.
pub const PROBE_NAMES_PER_FILE: usize = 8;

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Where `name` is first used in `text` as a whole word: its byte offset.
fn first_use(text: &str, name: &str) -> Option<usize> {
    text.match_indices(name).map(|(at, _)| at).find(|&at| {
        !text[..at].chars().next_back().is_some_and(is_ident)
            && !text[at + name.len()..].chars().next().is_some_and(is_ident)
    })
}

/// The tokens of `ids` (which decode to `text`) that cover bytes
/// `bytes`: found by bisecting on the decoded length of prefixes, then
/// checked (`None` when the decoded tokens do not contain those bytes, e.g.
/// a tokenizer whose decoding is not the text).
fn tokens_covering(encoder: &dyn TokenEncoder, ids: &[u32], text: &str, bytes: Range<usize>) -> Option<Range<usize>> {
    let decoded = |k: usize| encoder.decode(&ids[..k]).map_or(usize::MAX, |d| d.len());
    // The first k in 0..=ids.len() where `past(k)` holds (it is monotone).
    let first = |past: &dyn Fn(usize) -> bool| {
        let (mut lo, mut hi) = (0, ids.len() + 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if past(mid) { hi = mid } else { lo = mid + 1 }
        }
        lo
    };
    let start = first(&|k| decoded(k) > bytes.start).checked_sub(1)?;
    let end = first(&|k| decoded(k) >= bytes.end);
    let covered = encoder.decode(ids.get(start..end)?).ok()?;
    covered.contains(&text[bytes]).then_some(start..end)
}

/// The cross-file probe's names in file `i` of `repo`: the token range (in
/// its content `ids`) of the first use of each name one of its imports
/// declares and it does not, in order, within the first `cap` tokens (the
/// text they decode to is all that is searched), at most
/// [`PROBE_NAMES_PER_FILE`].
fn probe_names(encoder: &dyn TokenEncoder, repo: &HeldoutRepo, i: usize, ids: &[u32], cap: usize) -> Vec<Range<usize>> {
    let f = &repo.files[i];
    let ids = &ids[..cap];
    let Ok(scored) = encoder.decode(ids) else {
        return Vec::new();
    };
    let own: std::collections::BTreeSet<&str> = f.defines.iter().map(String::as_str).collect();
    let names: std::collections::BTreeSet<&str> = f
        .deps
        .iter()
        .filter_map(|d| repo.files.get(*d))
        .flat_map(|d| d.defines.iter().map(String::as_str))
        .filter(|n| n.chars().count() >= 4 && n.chars().all(is_ident) && !own.contains(n))
        .collect();
    let mut uses: Vec<(usize, &str)> = names
        .into_iter()
        .filter_map(|n| Some((first_use(&scored, n)?, n)))
        .collect();
    uses.sort_unstable();
    uses.into_iter()
        .filter_map(|(at, name)| tokens_covering(encoder, ids, &scored, at..at + name.len()))
        .take(PROBE_NAMES_PER_FILE)
        .collect()
}

/// Cross-file NLL and probe of one repository: (sum of per-file means with,
/// without, files, tokens), each file's (with, without) appended to `units`,
/// each probed name's to `probe_units`.
#[allow(clippy::too_many_arguments)]
fn cross_file_nll(
    model: &Llama,
    encoder: &dyn TokenEncoder,
    prefix: &[u32],
    repo: &HeldoutRepo,
    t: &Tokenized,
    s: &HeldoutSettings,
    device: &Device,
    units: &mut Vec<(f64, f64)>,
    probe_units: &mut Vec<NameUnit>,
) -> (f64, f64, u64, u64) {
    let (mut with, mut without, mut files, mut tokens) = (0f64, 0f64, 0u64, 0u64);
    for (i, f) in repo.files.iter().enumerate() {
        if files as usize >= s.max_cross_files {
            break;
        }
        if f.deps.is_empty() {
            continue;
        }
        let (header, content) = &t.files[i];
        let room = s.context.saturating_sub(prefix.len() + header.len());
        let cap = content.len().min(s.context / 2).min(room);
        if cap == 0 {
            continue;
        }
        let target: Vec<u32> = header.iter().chain(&content[..cap]).copied().collect();
        let mut deps = f.deps.clone();
        deps.sort_unstable();
        deps.dedup();
        let context: Vec<u32> = deps.iter().flat_map(|d| t.rendered(*d)).collect();
        let keep = context.len().min(s.context - prefix.len() - target.len());
        let names = probe_names(encoder, repo, i, content, cap);
        // Content token j is target j of the scored range.
        let run = |before: &[u32]| {
            let ids: Vec<u32> = prefix.iter().chain(before).chain(&target).copied().collect();
            let (nll, pred) = score(model, &ids, ids.len() - cap..ids.len(), !names.is_empty(), device);
            let mean = nll.iter().map(|l| f64::from(*l)).sum::<f64>() / cap as f64;
            let probed: Vec<(f64, bool)> = names
                .iter()
                .map(|r| {
                    let n = nll[r.clone()].iter().map(|l| f64::from(*l)).sum::<f64>() / r.len() as f64;
                    (n, pred[r.clone()] == content[r.clone()])
                })
                .collect();
            (mean, probed)
        };
        let ((w, pw), (wo, pwo)) = (run(&context[context.len() - keep..]), run(&[]));
        units.push((w, wo));
        probe_units.extend(pw.iter().zip(&pwo).map(|(a, b)| (a.0, b.0, a.1, b.1)));
        with += w;
        without += wo;
        files += 1;
        tokens += cap as u64;
    }
    (with, without, files, tokens)
}

/// The cross-file probe over `units`.
fn cross_probe(units: &[NameUnit]) -> CrossFileProbe {
    let n = units.len() as u64;
    let sum = |f: &dyn Fn(&NameUnit) -> f64| units.iter().map(f).sum::<f64>();
    CrossFileProbe {
        probes: n,
        exact_with_deps: mean(sum(&|u| f64::from(u8::from(u.2))), n),
        exact_without_deps: mean(sum(&|u| f64::from(u8::from(u.3))), n),
        nll_with_deps: mean(sum(&|u| u.0), n),
        nll_without_deps: mean(sum(&|u| u.1), n),
    }
}

/// The seeded generator of probe `index` at `length`.
fn probe_rng(seed: u64, length: usize, index: usize) -> SplitMix64 {
    let mut rng = SplitMix64(
        seed ^ (length as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(23)
            ^ (index as u64).wrapping_mul(0xd1b5_4a32_d192_ed03),
    );
    rng.next_u64();
    rng
}

/// A key's word (6 random lowercase letters) and its value (6 random digits).
fn key_value(rng: &mut SplitMix64) -> (String, String) {
    let word: String = (0..6).map(|_| char::from(b'a' + (rng.next_u64() % 26) as u8)).collect();
    (word, (100_000 + rng.next_u64() % 900_000).to_string())
}

/// Builds probe `index` of `length` tokens with `distractors` other needles
/// from the rendered repositories `streams`.
fn build_probe(
    encoder: &dyn TokenEncoder,
    streams: &[Vec<u32>],
    length: usize,
    seed: u64,
    index: usize,
    distractors: usize,
) -> Result<RetrievalProbe, TrainError> {
    let mut rng = probe_rng(seed, length, index);
    let (word, value_text) = key_value(&mut rng);
    let key = format!("KEY_{word}");
    let what = || format!("retrieval probe {index} at length {length}");
    let prefix: Vec<u32> = encoder.info().bos.into_iter().collect();
    // Alone, the needle opens the sequence; among distractors, every needle
    // is a line of its own wherever it lands.
    let line = |k: &str, v: &str| {
        if distractors == 0 {
            format!("const {k} = {v};\n")
        } else {
            format!("\nconst {k} = {v};\n")
        }
    };
    let needle = encode(encoder, &line(&key, &value_text), &what)?;
    let query = encode(encoder, &format!("\nassert_eq!({key}, "), &what)?;
    let value = encode(encoder, &value_text, &what)?;
    let mut others: Vec<(String, Vec<u32>)> = Vec::with_capacity(distractors);
    let mut taken = std::collections::BTreeSet::from([word.clone(), value_text.clone()]);
    while others.len() < distractors {
        let (w, v) = key_value(&mut rng);
        if taken.insert(w.clone()) && taken.insert(v.clone()) {
            let k = format!("KEY_{w}");
            let ids = encode(encoder, &line(&k, &v), &what)?;
            others.push((k, ids));
        }
    }
    let distractors_len: usize = others.iter().map(|(_, ids)| ids.len()).sum();
    let fixed = prefix.len() + needle.len() + distractors_len + query.len() + value.len();
    if length < fixed + MIN_HAYSTACK {
        let needles = if distractors == 0 {
            "needle".to_owned()
        } else {
            format!("{} needles", distractors + 1)
        };
        return Err(TrainError::Invalid(format!(
            "retrieval length {length} is too short: the probe's BOS, {needles}, query and value take {fixed} tokens \
             and at least {MIN_HAYSTACK} tokens of haystack are needed (use at least {})",
            fixed + MIN_HAYSTACK
        )));
    }
    let haystack_len = length - fixed;
    let repo = index % streams.len();
    let offset = (rng.next_u64() % streams[repo].len() as u64) as usize;
    let mut haystack = Vec::with_capacity(haystack_len);
    let (mut r, mut at) = (repo, offset);
    while haystack.len() < haystack_len {
        let take = (haystack_len - haystack.len()).min(streams[r].len() - at);
        haystack.extend_from_slice(&streams[r][at..at + take]);
        r = (r + 1) % streams.len();
        at = 0;
    }
    let mut ids = Vec::with_capacity(length);
    ids.extend_from_slice(&prefix);
    let (needle_at, distractors) = if others.is_empty() {
        ids.extend_from_slice(&needle);
        ids.extend_from_slice(&haystack);
        (prefix.len(), Vec::new())
    } else {
        // The needles in a seeded order (the one asked for is `None`), each
        // at its own seeded place in the haystack.
        let mut order: Vec<Option<usize>> = std::iter::once(None).chain((0..others.len()).map(Some)).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let mut cuts: Vec<usize> = order
            .iter()
            .map(|_| (rng.next_u64() % (haystack_len as u64 + 1)) as usize)
            .collect();
        cuts.sort_unstable();
        let (mut from, mut needle_at, mut keys) = (0, 0, Vec::with_capacity(others.len()));
        for (cut, which) in cuts.iter().zip(&order) {
            ids.extend_from_slice(&haystack[from..*cut]);
            from = *cut;
            match which {
                None => {
                    needle_at = ids.len();
                    ids.extend_from_slice(&needle);
                }
                Some(o) => {
                    keys.push(others[*o].0.clone());
                    ids.extend_from_slice(&others[*o].1);
                }
            }
        }
        ids.extend_from_slice(&haystack[from..]);
        (needle_at, keys)
    };
    ids.extend_from_slice(&query);
    let start = ids.len();
    ids.extend_from_slice(&value);
    debug_assert_eq!(ids.len(), length);
    Ok(RetrievalProbe {
        prefix_len: prefix.len(),
        needle_len: needle.len(),
        needle_at,
        distractors,
        distractors_len,
        haystack_len,
        query_len: query.len(),
        value: start..ids.len(),
        key,
        value_text,
        repo,
        offset,
        ids,
    })
}

/// The rendered repositories as one token stream each (the probes' haystack).
fn streams(tokenized: &[Tokenized]) -> Vec<Vec<u32>> {
    tokenized.iter().map(|t| t.stream().0).collect()
}

/// Checks, as [`evaluate_heldout`] does before any forward pass, that every
/// retrieval length of `s` holds its probe over `repos` (tokenized once).
pub fn check_retrieval(
    encoder: &dyn TokenEncoder,
    repos: &[HeldoutRepo],
    s: &HeldoutSettings,
) -> Result<(), TrainError> {
    let streams = streams(&tokenize(encoder, repos)?);
    for &length in &s.retrieval_lengths {
        build_probe(encoder, &streams, length, s.seed, 0, s.retrieval_distractors)?;
    }
    Ok(())
}

/// Retrieval probe `index` of `length` tokens with `distractors` other
/// needles over `repos` with `seed`, as [`evaluate_heldout`] builds it.
pub fn retrieval_probe(
    encoder: &dyn TokenEncoder,
    repos: &[HeldoutRepo],
    length: usize,
    seed: u64,
    index: usize,
    distractors: usize,
) -> Result<RetrievalProbe, TrainError> {
    build_probe(
        encoder,
        &streams(&tokenize(encoder, repos)?),
        length,
        seed,
        index,
        distractors,
    )
}

/// Evaluates `model` (no autodiff) on held-out `repos`: code NLL in
/// dependency order, cross-file NLL and retrieval probes (see the module docs).
pub fn evaluate_heldout(
    model: &Llama,
    encoder: &dyn TokenEncoder,
    repos: &[HeldoutRepo],
    s: &HeldoutSettings,
    device: &Device,
) -> Result<HeldoutReport, TrainError> {
    let prefix: Vec<u32> = encoder.info().bos.into_iter().collect();
    if s.context < MIN_CONTEXT {
        return Err(TrainError::Invalid(format!(
            "held-out context {} is too small (at least {MIN_CONTEXT} tokens)",
            s.context
        )));
    }
    let tokenized = tokenize(encoder, repos)?;
    let streams = streams(&tokenized);
    // All probes are built (and their lengths checked) before any forward pass.
    let probes: Vec<Vec<RetrievalProbe>> = s
        .retrieval_lengths
        .iter()
        .map(|l| {
            (0..s.probes)
                .map(|i| build_probe(encoder, &streams, *l, s.seed, i, s.retrieval_distractors))
                .collect()
        })
        .collect::<Result<_, _>>()?;
    let model = model.valid();

    let mut total = Sums::default();
    let mut probe_total = vec![ProbeSums::default(); s.retrieval_lengths.len()];
    let mut per_repo_probes = vec![vec![ProbeSums::default(); s.retrieval_lengths.len()]; repos.len()];
    let mut units = HeldoutUnits {
        retrieval: vec![Vec::new(); s.retrieval_lengths.len()],
        ..HeldoutUnits::default()
    };
    for (k, at_length) in probes.iter().enumerate() {
        for p in at_length {
            let (nll, pred) = score(&model, &p.ids, p.value.clone(), true, device);
            let exact = pred == p.ids[p.value.clone()];
            let value_nll = nll.iter().map(|l| f64::from(*l)).sum::<f64>() / nll.len().max(1) as f64;
            units.retrieval[k].push(value_nll);
            for sums in [&mut probe_total[k], &mut per_repo_probes[p.repo][k]] {
                sums.0 += 1;
                sums.1 += u64::from(exact);
                sums.2 += value_nll;
            }
        }
    }
    let mut out = Vec::with_capacity(repos.len());
    for (r, (repo, t)) in repos.iter().zip(&tokenized).enumerate() {
        let probed = units.cross_probe.len();
        let sums = Sums {
            code: code_nll(&model, &prefix, t, s, device, &mut units.code),
            cross: cross_file_nll(
                &model,
                encoder,
                &prefix,
                repo,
                t,
                s,
                device,
                &mut units.cross_file,
                &mut units.cross_probe,
            ),
        };
        total.add(&sums);
        out.push(RepoHeldout {
            name: repo.name.clone(),
            files: repo.files.len() as u64,
            code: sums.code(),
            cross_file: sums.cross(),
            cross_probe: cross_probe(&units.cross_probe[probed..]),
            retrieval: s
                .retrieval_lengths
                .iter()
                .zip(&per_repo_probes[r])
                .map(|(l, p)| p.result(*l))
                .collect(),
        });
    }
    Ok(HeldoutReport {
        repos: out,
        code: total.code(),
        cross_file: total.cross(),
        cross_probe: cross_probe(&units.cross_probe),
        retrieval: s
            .retrieval_lengths
            .iter()
            .zip(&probe_total)
            .map(|(l, p)| p.result(*l))
            .collect(),
        settings: s.clone(),
        units,
    })
}
