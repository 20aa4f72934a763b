"""A Megatron GPT dataset that trains only where repo2agent's loss mask says.

`repo2agent export OUT/shards --format megatron --out PREFIX` writes
`PREFIX.bin/.idx` (the tokens) and `PREFIX_loss_mask.bin/.idx` (1 where a
token is trained on, 0 for a masked observation; the same documents and
lengths). Megatron's own `GPTDataset` builds each sample from the token file
and computes its own loss mask (padding, and EOD tokens with
`--eod-mask-loss`); `MaskedGPTDataset` reads the same spans of the loss-mask
file and multiplies Megatron's mask by ours *of the token each position
predicts* (its label), as our trainer weights a position by the token it
predicts. Nothing else changes: sampling, shuffling, caching and blending
are Megatron's.

Use it in Megatron-LM's `pretrain_gpt.py` in place of `GPTDataset` (the one
line in `train_valid_test_datasets_provider` that picks the dataset type):

    sys.path.insert(0, "/path/to/repo2agent/scripts")
    from megatron_dataset import MaskedGPTDataset
    dataset_type = MockGPTDataset if args.mock_data else MaskedGPTDataset

and run it on the export with the tokenizer the shards were made with:

    --data-path PREFIX --split 100,0,0 --seq-length 65536 \\
    --tokenizer-type HuggingFaceTokenizer --tokenizer-model OUT/shards \\
    --reset-position-ids --reset-attention-mask --eod-mask-loss

(`OUT/shards` holds the run's `tokenizer.json`). Megatron packs documents
itself; the two `--reset-*` flags restart positions and attention at each EOD
token (the tokenizer's EOS, which ends every trajectory). A trajectory our
packing cut into chunks is exported as several documents and only its last
chunk ends with EOS, so Megatron's shuffled packing may let a chunk attend to
an unrelated one before it: make the shards with a `seq_len` that holds whole
trajectories when that matters (docs/training.md).

Tested with megatron-core 0.16.1 (`scripts/interop.py megatron`): every
sample's tokens and loss mask equal those rebuilt from our shards.
"""
import torch
from megatron.core.datasets.gpt_dataset import GPTDataset
from megatron.core.datasets.indexed_dataset import IndexedDataset


class MaskedGPTDataset(GPTDataset):
    """`GPTDataset` whose `loss_mask` is also zero wherever the label is a
    token repo2agent's loss mask leaves out (see the module docs)."""

    def __init__(self, indexed_dataset, dataset_path, indexed_indices, num_samples, index_split, config):
        super().__init__(indexed_dataset, dataset_path, indexed_indices, num_samples, index_split, config)
        self.loss_mask_dataset = IndexedDataset(
            dataset_path + "_loss_mask", multimodal=False, mmap=config.mmap_bin_files
        )
        ours = self.loss_mask_dataset.sequence_lengths
        if list(ours) != list(indexed_dataset.sequence_lengths):
            raise ValueError(f"{dataset_path}_loss_mask: its sequence lengths differ from {dataset_path}'s")

    def repo2agent_mask(self, idx):
        """Our loss mask over the same tokens as sample `idx` (padding 0)."""
        tokens, pad = self.dataset, self._pad_token_id
        # The sample is assembled by `self.dataset.get(...)`: read the mask
        # file through the same spans.
        self.dataset, self._pad_token_id = self.loss_mask_dataset, 0
        try:
            mask, _ = self._query_document_sample_shuffle_indices(0 if idx is None else idx)
        finally:
            self.dataset, self._pad_token_id = tokens, pad
        return torch.from_numpy(mask).float()

    def __getitem__(self, idx):
        sample = super().__getitem__(idx)
        mask = self.repo2agent_mask(idx)
        if self.config.add_extra_token_to_sequence:
            predicted = mask[1:]
        else:
            predicted = torch.roll(mask, shifts=-1, dims=0)
            predicted[-1] = 0.0
        sample["loss_mask"] = sample["loss_mask"] * predicted
        return sample
