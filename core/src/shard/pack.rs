//! Packing documents into sequences of `seq_len` tokens.
//!
//! Policy (reported in `stats.json` under `tokens`):
//! - a document of at most `seq_len` tokens is never split;
//! - a longer one is cut into chunks of at most `seq_len` tokens, each cut at
//!   the last segment boundary that fits, unless that boundary would leave a
//!   chunk shorter than a quarter of `seq_len`; then (and for one segment longer
//!   than `seq_len`) it is cut inside the segment, at exactly `seq_len`. Each
//!   chunk is its own entry in `indices`; cuts are counted;
//! - pieces go best-fit into a window of `window` open sequences; when none has
//!   room, the fullest is closed (padded) and a new one opened, so memory stays
//!   at `window × seq_len` tokens whatever the corpus size;
//! - at the end the open sequences are padded to `seq_len` with zero-weight pad
//!   tokens (`last = "pad"`) or written shorter (`last = "short"`).
//!
//! Every real token lands in exactly one sequence: nothing is dropped, and each
//! step consumes at least one token, so an oversize document always terminates.

use super::PAD_ROLE;
use super::tokens::TokenizedDoc;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happens to the sequences still open when the input ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LastSequence {
    /// Padded to `seq_len` with pad tokens of weight 0 (every sample has the same length).
    #[default]
    Pad,
    /// Written as they are, shorter than `seq_len`.
    Short,
}

/// Packing settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackConfig {
    /// Tokens per sequence.
    pub seq_len: u32,
    /// Open sequences to fill best-fit.
    pub window: usize,
    /// The end-of-input policy.
    pub last: LastSequence,
    /// The pad token id.
    pub pad_id: u32,
}

/// A document or a chunk of one, with per-token roles and loss weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Piece {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Role ids.
    pub roles: Vec<u8>,
    /// Loss weights.
    pub weights: Vec<f32>,
}

impl Piece {
    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Tokens `[a, b)` of a document, copied out of its runs (`starts`: where
    /// each run starts).
    fn of(doc: &TokenizedDoc, starts: &[u32], weights: &Weights, a: usize, b: usize) -> Piece {
        let mut p = Piece {
            ids: Vec::with_capacity(b - a),
            roles: Vec::with_capacity(b - a),
            weights: Vec::with_capacity(b - a),
        };
        // The run holding token `a`, then every run up to `b`.
        let first = starts.partition_point(|&s| s as usize <= a).saturating_sub(1);
        for (run, &start) in doc.runs()[first..].iter().zip(&starts[first..]) {
            let start = start as usize;
            if start >= b {
                break;
            }
            let (from, to) = (a.max(start) - start, b.min(start + run.ids.len()) - start);
            p.ids.extend_from_slice(&run.ids[from..to]);
            p.roles.extend(std::iter::repeat_n(run.role, to - from));
            match weights {
                Weights::ByRole(table) => p
                    .weights
                    .extend(std::iter::repeat_n(table[usize::from(run.role)], to - from)),
                Weights::PerToken(w) => p.weights.extend_from_slice(&w[start + from..start + to]),
            }
        }
        p
    }
}

/// A document's loss weights: one per role (what a masker that weighs each
/// token by its role alone gives, held as a table), or one per token.
#[derive(Clone, Debug, PartialEq)]
pub enum Weights {
    /// The weight of every role id.
    ByRole(std::sync::Arc<[f32; 256]>),
    /// One weight per token, in order.
    PerToken(Vec<f32>),
}

/// One packed sequence: a sample of the shards.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sequence {
    /// Tokens, padding included.
    pub input_ids: Vec<u32>,
    /// Role id per token ([`PAD_ROLE`] for padding).
    pub roles: Vec<u8>,
    /// Loss weight per token (0 for padding).
    pub weights: Vec<f32>,
    /// `[start, end)` of each document or chunk.
    pub indices: Vec<[u32; 2]>,
    /// Real tokens (the rest is padding).
    pub length: u32,
}

impl Sequence {
    /// `1` where the weight is positive.
    pub fn mask(&self) -> Vec<u8> {
        self.weights.iter().map(|w| u8::from(*w > 0.0)).collect()
    }

    fn room(&self, seq_len: usize) -> usize {
        seq_len - self.input_ids.len()
    }

    fn add(&mut self, p: Piece) {
        let start = self.input_ids.len() as u32;
        self.indices.push([start, start + p.len() as u32]);
        self.input_ids.extend(p.ids);
        self.roles.extend(p.roles);
        self.weights.extend(p.weights);
        self.length = self.input_ids.len() as u32;
    }

    fn pad_to(&mut self, seq_len: usize, pad_id: u32) {
        let n = seq_len - self.input_ids.len();
        self.input_ids.extend(std::iter::repeat_n(pad_id, n));
        self.roles.extend(std::iter::repeat_n(PAD_ROLE, n));
        self.weights.extend(std::iter::repeat_n(0.0, n));
    }
}

/// Counters of tokenizing and packing (`stats.json`, `tokens`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PackStats {
    /// Documents packed (non-empty ones).
    pub documents: u64,
    /// Documents with no tokens (skipped).
    pub documents_empty: u64,
    /// Documents longer than `seq_len`, split into chunks.
    pub documents_split: u64,
    /// Chunks the split documents became.
    pub chunks: u64,
    /// Cuts made inside a segment (no segment boundary fitted).
    pub cuts_inside_segment: u64,
    /// Sequences written.
    pub sequences: u64,
    /// Real tokens written.
    pub tokens: u64,
    /// Real tokens per role name.
    pub tokens_by_role: BTreeMap<String, u64>,
    /// Real tokens with loss weight 0.
    pub tokens_masked: u64,
    /// Sum of loss weights.
    pub loss_weight: f64,
    /// Padding tokens written.
    pub padding_tokens: u64,
}

impl PackStats {
    /// Share of real tokens with weight 0.
    pub fn masked_share(&self) -> f64 {
        ratio(self.tokens_masked, self.tokens)
    }

    /// Share of written tokens that are padding.
    pub fn padding_share(&self) -> f64 {
        ratio(self.padding_tokens, self.tokens + self.padding_tokens)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Packs documents into sequences; see the module docs for the policy.
#[derive(Debug)]
pub struct Packer {
    config: PackConfig,
    open: Vec<Sequence>,
    stats: PackStats,
}

impl Packer {
    /// A packer; `seq_len` and `window` are at least 1.
    pub fn new(config: PackConfig) -> Self {
        let config = PackConfig {
            seq_len: config.seq_len.max(1),
            window: config.window.max(1),
            ..config
        };
        Self {
            config,
            open: Vec::new(),
            stats: PackStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &PackStats {
        &self.stats
    }

    /// Adds one tokenized document with its weights; closed sequences go to
    /// `emit`. The document is copied out chunk by chunk (at most `seq_len`
    /// tokens at a time), never whole.
    pub fn push<E>(
        &mut self,
        doc: TokenizedDoc,
        weights: Weights,
        emit: &mut impl FnMut(Sequence) -> Result<(), E>,
    ) -> Result<(), E> {
        debug_assert!(!matches!(&weights, Weights::PerToken(w) if w.len() != doc.len()));
        if doc.is_empty() {
            self.stats.documents_empty += 1;
            return Ok(());
        }
        self.stats.documents += 1;
        let boundaries = doc.boundaries();
        let starts = doc.run_starts();
        let piece = |a, b| Piece::of(&doc, &starts, &weights, a, b);
        let seq_len = self.config.seq_len as usize;
        let n = doc.len();
        if n <= seq_len {
            return self.place(piece(0, n), emit);
        }
        self.stats.documents_split += 1;
        let min_chunk = (seq_len / 4).max(1);
        let mut start = 0usize;
        while n - start > seq_len {
            let limit = start + seq_len;
            // The last segment boundary b with start + min_chunk <= b <= limit.
            let i = boundaries.partition_point(|&b| (b as usize) <= limit);
            let cut = match i.checked_sub(1).map(|i| boundaries[i] as usize) {
                Some(b) if b >= start + min_chunk => b,
                _ => {
                    self.stats.cuts_inside_segment += 1;
                    limit
                }
            };
            self.stats.chunks += 1;
            self.place(piece(start, cut), emit)?;
            start = cut;
        }
        self.stats.chunks += 1;
        self.place(piece(start, n), emit)
    }

    /// Closes every open sequence per the `last` policy.
    pub fn finish<E>(mut self, emit: &mut impl FnMut(Sequence) -> Result<(), E>) -> Result<PackStats, E> {
        let open = std::mem::take(&mut self.open);
        for s in open {
            let pad = self.config.last == LastSequence::Pad;
            self.close(s, pad, emit)?;
        }
        Ok(self.stats)
    }

    fn place<E>(&mut self, piece: Piece, emit: &mut impl FnMut(Sequence) -> Result<(), E>) -> Result<(), E> {
        let seq_len = self.config.seq_len as usize;
        let need = piece.len();
        let best = self
            .open
            .iter()
            .enumerate()
            .filter(|(_, s)| s.room(seq_len) >= need)
            .min_by_key(|(i, s)| (s.room(seq_len), *i))
            .map(|(i, _)| i);
        let i = match best {
            Some(i) => i,
            None => {
                if self.open.len() >= self.config.window {
                    let fullest = (0..self.open.len())
                        .min_by_key(|&i| (self.open[i].room(seq_len), i))
                        .unwrap_or(0);
                    let s = self.open.remove(fullest);
                    self.close(s, true, emit)?;
                }
                self.open.push(Sequence::default());
                self.open.len() - 1
            }
        };
        self.open[i].add(piece);
        if self.open[i].room(seq_len) == 0 {
            let s = self.open.remove(i);
            self.close(s, true, emit)?;
        }
        Ok(())
    }

    fn close<E>(
        &mut self,
        mut s: Sequence,
        pad: bool,
        emit: &mut impl FnMut(Sequence) -> Result<(), E>,
    ) -> Result<(), E> {
        let st = &mut self.stats;
        st.sequences += 1;
        st.tokens += u64::from(s.length);
        let mut counts = [0u64; 256];
        for (r, w) in s.roles.iter().zip(&s.weights) {
            counts[usize::from(*r)] += 1;
            if *w == 0.0 {
                st.tokens_masked += 1;
            }
            st.loss_weight += f64::from(*w);
        }
        for (id, c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let name = crate::model::Role::from_id(id as u8).map_or("unknown", |r| r.name());
            *st.tokens_by_role.entry(name.to_owned()).or_default() += c;
        }
        if pad {
            let seq_len = self.config.seq_len as usize;
            st.padding_tokens += (seq_len - s.input_ids.len()) as u64;
            s.pad_to(seq_len, self.config.pad_id);
        }
        emit(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    fn doc(lens: &[usize]) -> TokenizedDoc {
        // Segments of the given lengths, ids counting up, role = segment index % 8.
        let mut d = TokenizedDoc::default();
        let mut next = 1000u32;
        for (i, l) in lens.iter().enumerate() {
            let ids: Vec<u32> = (next..next + *l as u32).collect();
            next += *l as u32;
            d.push(ids.into(), Role::from_id((i % 8) as u8).unwrap()).unwrap();
        }
        d
    }

    fn pack(docs: Vec<TokenizedDoc>, seq_len: u32, window: usize, last: LastSequence) -> (Vec<Sequence>, PackStats) {
        let mut p = Packer::new(PackConfig {
            seq_len,
            window,
            last,
            pad_id: 7,
        });
        let mut out = Vec::new();
        let mut emit = |s: Sequence| -> Result<(), ()> {
            out.push(s);
            Ok(())
        };
        for d in docs {
            let w = Weights::PerToken(vec![1.0; d.len()]);
            p.push(d, w, &mut emit).unwrap();
        }
        let stats = p.finish(&mut emit).unwrap();
        (out, stats)
    }

    /// Every real token of every document appears exactly once, in document order.
    fn real_tokens(seqs: &[Sequence]) -> Vec<u32> {
        let mut v: Vec<(u32, u32)> = Vec::new();
        for s in seqs {
            for [a, b] in &s.indices {
                for i in *a..*b {
                    v.push((s.input_ids[i as usize], 0));
                }
            }
        }
        v.into_iter().map(|x| x.0).collect()
    }

    fn check_invariants(seqs: &[Sequence], seq_len: u32, last: LastSequence) {
        for s in seqs {
            assert_eq!(s.input_ids.len(), s.roles.len());
            assert_eq!(s.input_ids.len(), s.weights.len());
            if last == LastSequence::Pad {
                assert_eq!(s.input_ids.len(), seq_len as usize);
            }
            let mut at = 0;
            for [a, b] in &s.indices {
                assert_eq!(*a, at, "indices are contiguous from 0");
                assert!(b > a);
                at = *b;
            }
            assert_eq!(at, s.length);
            for i in s.length as usize..s.input_ids.len() {
                assert_eq!((s.input_ids[i], s.roles[i], s.weights[i]), (7, PAD_ROLE, 0.0));
            }
        }
    }

    #[test]
    fn empty_input_gives_no_sequences() {
        let (seqs, st) = pack(vec![], 16, 4, LastSequence::Pad);
        assert!(seqs.is_empty());
        assert_eq!(st.sequences, 0);
        let (seqs, st) = pack(vec![TokenizedDoc::default()], 16, 4, LastSequence::Pad);
        assert!(seqs.is_empty());
        assert_eq!((st.documents, st.documents_empty), (0, 1));
    }

    #[test]
    fn exactly_seq_len_fills_one_sequence_without_padding() {
        let (seqs, st) = pack(vec![doc(&[10, 6])], 16, 4, LastSequence::Pad);
        assert_eq!(seqs.len(), 1);
        assert_eq!(seqs[0].indices, vec![[0, 16]]);
        assert_eq!((st.padding_tokens, st.documents_split, st.tokens), (0, 0, 16));
        check_invariants(&seqs, 16, LastSequence::Pad);
    }

    #[test]
    fn three_times_seq_len_splits_at_segment_boundaries() {
        // 48 tokens in segments of 8: every cut lands on a boundary, three full sequences.
        let d = doc(&[8; 6]);
        let want = d.ids();
        let (seqs, st) = pack(vec![d], 16, 4, LastSequence::Pad);
        assert_eq!(seqs.len(), 3);
        assert_eq!((st.documents_split, st.chunks, st.cuts_inside_segment), (1, 3, 0));
        assert_eq!(st.padding_tokens, 0);
        assert_eq!(real_tokens(&seqs), want);
        check_invariants(&seqs, 16, LastSequence::Pad);
    }

    #[test]
    fn split_prefers_the_last_boundary_that_fits() {
        // Segments 10, 10, 10: seq_len 16 cuts at 10 and 20, never inside a segment.
        let (seqs, st) = pack(vec![doc(&[10, 10, 10])], 16, 1, LastSequence::Short);
        assert_eq!(st.cuts_inside_segment, 0);
        assert_eq!(st.chunks, 3);
        let lens: Vec<u32> = seqs.iter().map(|s| s.length).collect();
        assert_eq!(lens, vec![10, 10, 10]);
        check_invariants(&seqs, 16, LastSequence::Short);
    }

    #[test]
    fn one_huge_segment_is_cut_inside_and_terminates() {
        let d = doc(&[100]);
        let want = d.ids();
        let (seqs, st) = pack(vec![d], 16, 2, LastSequence::Pad);
        assert_eq!(st.cuts_inside_segment, 6); // 100 = 6 × 16 + 4
        assert_eq!(st.chunks, 7);
        assert_eq!(seqs.len(), 7);
        assert_eq!(real_tokens(&seqs), want);
        assert_eq!(st.padding_tokens, 12);
        check_invariants(&seqs, 16, LastSequence::Pad);
    }

    #[test]
    fn tiny_boundary_chunks_are_avoided() {
        // A boundary at 1 would leave a 1-token chunk; the cut goes inside at 16 instead.
        let (_, st) = pack(vec![doc(&[1, 40])], 16, 2, LastSequence::Pad);
        assert_eq!(st.cuts_inside_segment, 2);
    }

    #[test]
    fn best_fit_fills_gaps_and_last_policy_applies() {
        // 10, 10, 6, 6 with seq_len 16 and a window of 2: 10+6 and 10+6, no padding.
        let docs = vec![doc(&[10]), doc(&[10]), doc(&[6]), doc(&[6])];
        let (seqs, st) = pack(docs.clone(), 16, 2, LastSequence::Pad);
        assert_eq!(seqs.len(), 2);
        assert_eq!(st.padding_tokens, 0);
        assert!(seqs.iter().all(|s| s.indices.len() == 2));
        // A window of 1 closes a sequence when the next piece does not fit:
        // [10 + pad 6], [10, 6], [6 + pad 10].
        let (seqs, st) = pack(docs.clone(), 16, 1, LastSequence::Pad);
        assert_eq!(seqs.len(), 3);
        assert_eq!(st.padding_tokens, 6 + 10);
        // `short` leaves the final sequence unpadded.
        let (seqs, st) = pack(docs, 16, 1, LastSequence::Short);
        assert_eq!(st.padding_tokens, 6);
        assert_eq!(seqs.last().map(|s| s.input_ids.len()), Some(6));
        check_invariants(&seqs, 16, LastSequence::Short);
    }

    #[test]
    fn counts_roles_masked_tokens_and_weights() {
        let mut p = Packer::new(PackConfig {
            seq_len: 8,
            window: 1,
            last: LastSequence::Pad,
            pad_id: 0,
        });
        let d = doc(&[2, 3]); // roles 0,0,1,1,1
        let mut n = 0;
        p.push(
            d,
            Weights::PerToken(vec![1.0, 1.0, 0.0, 0.0, 0.5]),
            &mut |_s: Sequence| -> Result<(), ()> {
                n += 1;
                Ok(())
            },
        )
        .unwrap();
        let st = p
            .finish(&mut |_s: Sequence| -> Result<(), ()> {
                n += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(st.tokens_by_role.get("system"), Some(&2));
        assert_eq!(st.tokens_by_role.get("context"), Some(&3));
        assert_eq!(st.tokens_masked, 2);
        assert_eq!(st.loss_weight, 2.5);
        assert!((st.masked_share() - 0.4).abs() < 1e-12);
        assert!((st.padding_share() - 3.0 / 8.0).abs() < 1e-12);
    }

    #[test]
    fn weights_by_role_equal_the_same_weights_per_token() {
        // 5 segments of 7 (roles 0..4) split into chunks of 16: cuts inside segments too.
        let d = doc(&[7, 7, 7, 7, 7]);
        let mut table = [0.0f32; 256];
        for (r, w) in table.iter_mut().enumerate() {
            *w = r as f32 * 0.25;
        }
        let per_token: Vec<f32> = d.roles().iter().map(|r| table[usize::from(*r)]).collect();
        let run = |w: Weights| {
            let mut p = Packer::new(PackConfig {
                seq_len: 16,
                window: 2,
                last: LastSequence::Pad,
                pad_id: 7,
            });
            let mut out = Vec::new();
            let mut emit = |s: Sequence| -> Result<(), ()> {
                out.push(s);
                Ok(())
            };
            p.push(d.clone(), w, &mut emit).unwrap();
            let st = p.finish(&mut emit).unwrap();
            (out, st)
        };
        let (a, sa) = run(Weights::ByRole(std::sync::Arc::new(table)));
        let (b, sb) = run(Weights::PerToken(per_token));
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert_eq!(real_tokens(&a), d.ids());
        let weights: Vec<f32> = a.iter().flat_map(|s| s.weights[..s.length as usize].to_vec()).collect();
        assert_eq!(weights.iter().filter(|w| **w == 0.25).count(), 7, "role 1's segment");
    }
}
