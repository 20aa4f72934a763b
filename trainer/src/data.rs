//! Training examples from repo2agent's MDS shards (`OUT/shards`, see
//! docs/shards.md): next-token targets that never cross a document boundary,
//! positions that restart at every document, a document id per token for the
//! block-diagonal causal mask, and loss weights taken from the *predicted*
//! token (so an observation token is never a target, while the model still
//! reads it as input).

use repo2agent_core::shard::mds::Sample;
use repo2agent_core::shard::{MdsReader, ShardError};
use std::path::Path;

/// Document id of padding tokens: attends to nothing but itself, never trained.
pub const PAD_DOC: u32 = u32::MAX;

/// One packed sequence, ready for a causal LM.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Example {
    /// Input tokens (the whole sequence, padding included).
    pub inputs: Vec<u32>,
    /// Target at each position: the next token of the same document (0 where
    /// there is none; its weight is then 0).
    pub targets: Vec<u32>,
    /// Loss weight of each position's target (the shards' weight of the next token).
    pub weights: Vec<f32>,
    /// Position of each token inside its document (restarts at 0 per document).
    pub positions: Vec<u32>,
    /// Document of each token (index into the sample's `indices`; [`PAD_DOC`] for padding).
    pub documents: Vec<u32>,
    /// Role of each position's target ([`NO_TARGET`] where there is none).
    pub target_roles: Vec<u8>,
}

/// `target_roles` value of positions without a target.
pub const NO_TARGET: u8 = u8::MAX;

impl Example {
    /// Builds the example of one sample.
    pub fn from_sample(s: &Sample) -> Example {
        let n = s.input_ids.len();
        let w = s.weights();
        let mut e = Example {
            inputs: s.input_ids.clone(),
            targets: vec![0; n],
            weights: vec![0.0; n],
            positions: vec![0; n],
            documents: vec![PAD_DOC; n],
            target_roles: vec![NO_TARGET; n],
        };
        for (d, [a, b]) in s.indices.iter().enumerate() {
            let (a, b) = (*a as usize, (*b as usize).min(n));
            for i in a..b {
                e.positions[i] = (i - a) as u32;
                e.documents[i] = d as u32;
                if i + 1 < b {
                    e.targets[i] = s.input_ids[i + 1];
                    e.weights[i] = w[i + 1];
                    e.target_roles[i] = s.roles.get(i + 1).copied().unwrap_or(NO_TARGET);
                }
            }
        }
        e
    }

    /// One whole document as an example, every token trained (for scoring and
    /// tests: a model's logits on plain token ids).
    pub fn from_document(ids: &[u32]) -> Example {
        let n = ids.len();
        Example::from_sample(&Sample {
            input_ids: ids.to_vec(),
            indices: vec![[0, n as u32]],
            mask: vec![1; n],
            roles: vec![repo2agent_core::model::Role::Code.id(); n],
            length: n as u64,
            weight: None,
        })
    }

    /// Whether query position `q` may attend to key position `k`: same
    /// document and not in the future (padding attends only to itself).
    pub fn may_attend(&self, q: usize, k: usize) -> bool {
        k <= q && (self.documents[q] == self.documents[k]) && (self.documents[q] != PAD_DOC || k == q)
    }

    /// Extends the example with padding to `len` positions (no targets, each
    /// pad token its own document).
    pub fn pad_to(&mut self, len: usize) {
        let n = len.max(self.inputs.len());
        self.inputs.resize(n, 0);
        self.targets.resize(n, 0);
        self.weights.resize(n, 0.0);
        self.positions.resize(n, 0);
        self.documents.resize(n, PAD_DOC);
        self.target_roles.resize(n, NO_TARGET);
    }

    /// Sum of the loss weights.
    pub fn total_weight(&self) -> f64 {
        self.weights.iter().map(|w| f64::from(*w)).sum()
    }
}

/// Where a run is in its data: resumable exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataPosition {
    /// Passes over the data completed.
    pub epoch: u64,
    /// Examples of the current epoch already consumed.
    pub step_in_epoch: u64,
}

/// The samples of a shard directory in a seeded order, reshuffled every epoch.
#[derive(Debug)]
pub struct ShardDataset {
    reader: MdsReader,
    seed: u64,
    /// The shard read last: (index, samples).
    cache: Option<(usize, Vec<Sample>)>,
}

impl ShardDataset {
    /// Opens `dir`.
    pub fn open(dir: &Path, seed: u64) -> Result<Self, ShardError> {
        Ok(Self {
            reader: MdsReader::open(dir)?,
            seed,
            cache: None,
        })
    }

    /// Examples per epoch.
    pub fn len(&self) -> u64 {
        self.reader.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The order of sample indices in `epoch` (a seeded permutation).
    pub fn epoch_order(&self, epoch: u64) -> Vec<u64> {
        let mut order: Vec<u64> = (0..self.len()).collect();
        let mut rng = SplitMix64(self.seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }

    /// Example `i` (a global sample index); its shard is read once and kept
    /// until an example of another shard is asked for.
    pub fn example(&mut self, i: u64) -> Result<Example, ShardError> {
        let (shard, local) = self.reader.locate(i)?;
        let samples = match &mut self.cache {
            Some((s, samples)) if *s == shard => samples,
            cache => &mut cache.insert((shard, self.reader.shard_samples(shard)?)).1,
        };
        Ok(Example::from_sample(&samples[local]))
    }

    /// The next `n` examples from `pos`, advancing it (crossing epochs).
    pub fn next_batch(&mut self, pos: &mut DataPosition, n: usize) -> Result<Vec<Example>, ShardError> {
        let mut out = Vec::with_capacity(n);
        if self.is_empty() {
            return Ok(out);
        }
        let mut order = self.epoch_order(pos.epoch);
        while out.len() < n {
            if pos.step_in_epoch >= self.len() {
                pos.epoch += 1;
                pos.step_in_epoch = 0;
                order = self.epoch_order(pos.epoch);
            }
            out.push(self.example(order[pos.step_in_epoch as usize])?);
            pos.step_in_epoch += 1;
        }
        Ok(out)
    }
}

/// A small, fast, seedable generator (Steele et al.'s SplitMix64).
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo2agent_core::shard::mds::MdsWriter;
    use repo2agent_core::shard::{PAD_ROLE, Sequence};

    fn sample() -> Sample {
        // Two documents [0,3) and [3,5), then one padding token.
        Sample {
            input_ids: vec![10, 11, 12, 20, 21, 0],
            indices: vec![[0, 3], [3, 5]],
            mask: vec![1, 0, 1, 1, 1, 0],
            roles: vec![7, 6, 5, 7, 5, PAD_ROLE],
            length: 5,
            weight: None,
        }
    }

    #[test]
    fn targets_stay_inside_documents_and_take_the_next_tokens_weight() {
        let e = Example::from_sample(&sample());
        assert_eq!(e.targets, vec![11, 12, 0, 21, 0, 0]);
        // Position 0 predicts token 1 (masked, weight 0); position 1 predicts token 2 (weight 1).
        assert_eq!(e.weights, vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(e.positions, vec![0, 1, 2, 0, 1, 0]);
        assert_eq!(e.documents, vec![0, 0, 0, 1, 1, PAD_DOC]);
        assert_eq!(e.target_roles, vec![6, 5, NO_TARGET, 5, NO_TARGET, NO_TARGET]);
        let mut p = e.clone();
        p.pad_to(8);
        assert_eq!(p.inputs.len(), 8);
        assert_eq!(&p.documents[6..], &[PAD_DOC, PAD_DOC]);
        assert_eq!(p.total_weight(), e.total_weight());
        assert_eq!(e.total_weight(), 2.0);
    }

    #[test]
    fn attention_is_block_diagonal_and_causal() {
        let e = Example::from_sample(&sample());
        let allowed: Vec<(usize, usize)> = (0..6)
            .flat_map(|q| (0..6).map(move |k| (q, k)))
            .filter(|&(q, k)| e.may_attend(q, k))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (0, 0),
                (1, 0),
                (1, 1),
                (2, 0),
                (2, 1),
                (2, 2),
                (3, 3),
                (4, 3),
                (4, 4),
                (5, 5)
            ]
        );
    }

    #[test]
    fn epochs_are_seeded_permutations_and_positions_resume() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = MdsWriter::new(dir.path(), 700, false).unwrap();
        for i in 0..9u32 {
            let s = Sequence {
                input_ids: vec![i; 8],
                roles: vec![5; 8],
                weights: vec![1.0; 8],
                indices: vec![[0, 8]],
                length: 8,
            };
            w.write(&s).unwrap();
        }
        assert!(w.finish().unwrap().shards.len() > 1);
        let mut ds = ShardDataset::open(dir.path(), 3).unwrap();
        let o0 = ds.epoch_order(0);
        let mut sorted = o0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..9).collect::<Vec<_>>());
        assert_ne!(o0, ds.epoch_order(1), "reshuffled every epoch");
        assert_eq!(o0, ShardDataset::open(dir.path(), 3).unwrap().epoch_order(0));
        // 4 batches of 3 cross into the second epoch; resuming from a saved
        // position gives exactly the rest.
        let mut pos = DataPosition::default();
        let mut all = Vec::new();
        for _ in 0..4 {
            all.extend(ds.next_batch(&mut pos, 3).unwrap().into_iter().map(|e| e.inputs[0]));
        }
        assert_eq!(
            pos,
            DataPosition {
                epoch: 1,
                step_in_epoch: 3
            }
        );
        let mut p2 = DataPosition::default();
        let mut first = Vec::new();
        for _ in 0..2 {
            first.extend(ds.next_batch(&mut p2, 3).unwrap().into_iter().map(|e| e.inputs[0]));
        }
        let mut resumed = ShardDataset::open(dir.path(), 3).unwrap();
        for _ in 0..2 {
            first.extend(resumed.next_batch(&mut p2, 3).unwrap().into_iter().map(|e| e.inputs[0]));
        }
        assert_eq!(first, all);
        let epoch0: Vec<u32> = o0.iter().map(|i| *i as u32).collect();
        assert_eq!(&all[..9], &epoch0[..]);
    }
}
