//! Segments → tokens, one role per token.

use crate::StageError;
use crate::model::{Role, Segment};
use crate::stage::{TextPiece, TokenEncoder};

/// One segment's tokens and their role. Every repeat of a segment in a
/// document shares one `ids` allocation.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRun {
    /// Token ids.
    pub ids: std::sync::Arc<[u32]>,
    /// Role id of every token of the run.
    pub role: u8,
    /// Whether a segment starts here (a segment split around its added
    /// tokens is several runs).
    pub starts_segment: bool,
}

/// One document as tokens: runs of one role each, one or more per non-empty
/// segment (BOS and EOS are runs of their own). A segment start is where a
/// document may be split without cutting a segment. A text repeated in the
/// document (a file read by several sub-agents, a file's bytes written and
/// then read) is held once, so memory follows the document's distinct text,
/// not its length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenizedDoc {
    runs: Vec<TokenRun>,
    len: usize,
}

impl TokenizedDoc {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The runs in order.
    pub fn runs(&self) -> &[TokenRun] {
        &self.runs
    }

    /// Every token id in order (a copy).
    pub fn ids(&self) -> Vec<u32> {
        self.runs.iter().flat_map(|r| r.ids.iter().copied()).collect()
    }

    /// The role id of every token in order.
    pub fn roles(&self) -> Vec<u8> {
        self.runs
            .iter()
            .flat_map(|r| std::iter::repeat_n(r.role, r.ids.len()))
            .collect()
    }

    /// Token index where each segment starts, increasing, the first one 0.
    pub fn boundaries(&self) -> Vec<u32> {
        let starts = self.run_starts();
        self.runs
            .iter()
            .zip(starts)
            .filter(|(r, _)| r.starts_segment)
            .map(|(_, at)| at)
            .collect()
    }

    /// Token index where each run starts, increasing, the first one 0.
    pub fn run_starts(&self) -> Vec<u32> {
        let mut at = 0u32;
        self.runs
            .iter()
            .map(|r| {
                let start = at;
                at += r.ids.len() as u32;
                start
            })
            .collect()
    }

    /// Token ids held in memory: each shared run counted once.
    pub fn held_tokens(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        self.runs
            .iter()
            .filter(|r| seen.insert(r.ids.as_ptr()))
            .map(|r| r.ids.len())
            .sum()
    }

    /// Appends a segment of one run (nothing for no ids).
    pub fn push(&mut self, ids: std::sync::Arc<[u32]>, role: Role) -> Result<(), StageError> {
        self.push_run(ids, role, true)
    }

    /// Appends a run, starting a segment or continuing the last one.
    fn push_run(&mut self, ids: std::sync::Arc<[u32]>, role: Role, starts_segment: bool) -> Result<(), StageError> {
        if ids.is_empty() {
            return Ok(());
        }
        if u32::try_from(self.len + ids.len()).is_err() {
            return Err(StageError::Invalid("document longer than 2^32 tokens".into()));
        }
        self.len += ids.len();
        self.runs.push(TokenRun {
            ids,
            role: role.id(),
            starts_segment,
        });
        Ok(())
    }
}

/// Segments at least this long are tokenized once per document: a repeat
/// (a file read by several sub-agents) shares the tokens of its first
/// occurrence.
const REUSE_MIN_BYTES: usize = 64;

/// Tokenizes a document segment by segment, so no token straddles two roles.
/// BOS (when the tokenizer has one) opens the document and EOS closes it, both
/// with role `markup`. Empty segments add no tokens and no boundary; a document
/// without text gives no tokens at all (not even BOS/EOS).
///
/// Each segment's tokens depend on its text alone (the encoder sees one
/// segment at a time), so a segment whose text already appeared in the
/// document shares those tokens instead of being encoded again: the same
/// ids, fewer encoder calls, and one copy in memory.
pub fn tokenize(encoder: &dyn TokenEncoder, segments: &[Segment]) -> Result<TokenizedDoc, StageError> {
    let mut doc = DocTokenizer::new(encoder)?;
    for s in segments {
        doc.push(s)?;
    }
    doc.finish()
}

/// [`tokenize`] one segment at a time, as a formatter hands them on
/// ([`crate::stage::Formatter::format_each`]): a segment's text is not kept
/// once its tokens are. Repeats are found by the SHA-256 of their text.
pub struct DocTokenizer<'e> {
    encoder: &'e dyn TokenEncoder,
    doc: TokenizedDoc,
    /// Tokens before the first segment's (BOS).
    opening: usize,
    /// The digest of each reusable segment's text → its tokens.
    seen: std::collections::HashMap<[u8; 32], std::sync::Arc<[u32]>>,
}

impl std::fmt::Debug for DocTokenizer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocTokenizer")
            .field("tokens", &self.doc.len())
            .finish_non_exhaustive()
    }
}

impl<'e> DocTokenizer<'e> {
    /// A document opened (with BOS when the tokenizer has one).
    pub fn new(encoder: &'e dyn TokenEncoder) -> Result<Self, StageError> {
        let mut doc = TokenizedDoc::default();
        if let Some(bos) = encoder.info().bos {
            doc.push(std::sync::Arc::from([bos]), Role::Markup)?;
        }
        Ok(Self {
            encoder,
            opening: doc.len(),
            doc,
            seen: Default::default(),
        })
    }

    /// Adds the next segment. Where the tokenizer splits it around its added
    /// tokens and encodes the rest piece by piece ([`TokenEncoder::pieces`]),
    /// each piece is a run of its own, so a file's bytes read back inside an
    /// observation share the tokens of the same bytes written as code.
    pub fn push(&mut self, s: &Segment) -> Result<(), StageError> {
        if s.text.is_empty() {
            return Ok(());
        }
        let Some(pieces) = self.encoder.pieces(&s.text) else {
            let ids = self.encoded(&s.text)?;
            return self.doc.push(ids, s.role);
        };
        let mut first = true;
        for piece in pieces {
            let ids = match piece {
                TextPiece::Token(id) => std::sync::Arc::from([id]),
                TextPiece::Text(text) => self.encoded(text)?,
            };
            if !ids.is_empty() {
                self.doc.push_run(ids, s.role, first)?;
                first = false;
            }
        }
        Ok(())
    }

    /// `text`'s tokens, encoded once per document for a text of
    /// [`REUSE_MIN_BYTES`] or more.
    fn encoded(&mut self, text: &str) -> Result<std::sync::Arc<[u32]>, StageError> {
        if text.len() < REUSE_MIN_BYTES {
            return Ok(self.encoder.encode(text)?.into());
        }
        let key: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(text)).into();
        if let Some(ids) = self.seen.get(&key) {
            return Ok(ids.clone());
        }
        let ids: std::sync::Arc<[u32]> = self.encoder.encode(text)?.into();
        self.seen.insert(key, ids.clone());
        Ok(ids)
    }

    /// The document closed (with EOS), or empty if no segment had text.
    pub fn finish(mut self) -> Result<TokenizedDoc, StageError> {
        if self.doc.len() == self.opening {
            return Ok(TokenizedDoc::default());
        }
        if let Some(eos) = self.encoder.info().eos {
            self.doc.push(std::sync::Arc::from([eos]), Role::Markup)?;
        }
        Ok(self.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::TokenizerInfo;

    /// One token per byte (id = byte + 10); BOS 1, EOS 2. Counts its calls.
    struct Bytes(TokenizerInfo, std::sync::atomic::AtomicUsize);

    impl TokenEncoder for Bytes {
        fn info(&self) -> &TokenizerInfo {
            &self.0
        }
        fn encode(&self, text: &str) -> Result<Vec<u32>, StageError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(text.bytes().map(|b| u32::from(b) + 10).collect())
        }
        fn decode(&self, ids: &[u32]) -> Result<String, StageError> {
            Ok(ids.iter().map(|i| char::from((i - 10) as u8)).collect())
        }
        fn to_json(&self) -> Result<String, StageError> {
            Ok(String::new())
        }
    }

    fn enc(bos: Option<u32>, eos: Option<u32>) -> Bytes {
        Bytes(
            TokenizerInfo {
                kind: "bytes".into(),
                source: String::new(),
                vocab_size: 266,
                bos,
                eos,
                pad: 0,
                special_tokens: Vec::new(),
            },
            Default::default(),
        )
    }

    fn seg(text: &str, role: Role) -> Segment {
        Segment {
            text: text.into(),
            role,
        }
    }

    #[test]
    fn roles_follow_segments_with_bos_and_eos_as_markup() {
        let d = tokenize(
            &enc(Some(1), Some(2)),
            &[seg("ab", Role::Think), seg("", Role::Code), seg("c", Role::Observation)],
        )
        .unwrap();
        assert_eq!(d.ids(), vec![1, 107, 108, 109, 2]);
        let m = Role::Markup.id();
        assert_eq!(
            d.roles(),
            vec![m, Role::Think.id(), Role::Think.id(), Role::Observation.id(), m]
        );
        assert_eq!(d.boundaries(), vec![0, 1, 3, 4], "the empty segment adds no boundary");
    }

    #[test]
    fn a_repeated_segment_is_encoded_once_and_gets_the_same_tokens() {
        let file = "fn main() {\n    println!(\"hello\");\n}\n".repeat(3);
        let segs = [
            seg(&file, Role::Code),
            seg("short", Role::Think),
            seg("short", Role::Think),
            seg(&file, Role::Observation),
            seg(&file[1..], Role::Observation),
        ];
        let e = enc(Some(1), Some(2));
        let d = tokenize(&e, &segs).unwrap();
        assert_eq!(
            e.1.load(std::sync::atomic::Ordering::Relaxed),
            4,
            "the second copy of the file is not encoded; short repeats and near-copies are"
        );
        // What encoding every segment gives, token for token and role for role.
        let mut ids = vec![1];
        let mut roles = vec![Role::Markup.id()];
        for s in &segs {
            ids.extend(s.text.bytes().map(|b| u32::from(b) + 10));
            roles.extend(std::iter::repeat_n(s.role.id(), s.text.len()));
        }
        ids.push(2);
        roles.push(Role::Markup.id());
        assert_eq!((d.ids(), d.roles()), (ids, roles));
        let file_tokens = file.len();
        assert_eq!(
            d.held_tokens(),
            d.len() - file_tokens,
            "the repeat shares its first occurrence's tokens"
        );
        let lens: Vec<u32> = segs.iter().map(|s| s.text.len() as u32).collect();
        let mut at = 1;
        let mut want = vec![0];
        for l in lens {
            want.push(at);
            at += l;
        }
        want.push(at);
        assert_eq!(d.boundaries(), want);
    }

    /// [`Bytes`] with one added token, `<|x|>` (id 5), split out as
    /// [`TokenEncoder::pieces`] says.
    struct Marked(Bytes);

    impl TokenEncoder for Marked {
        fn info(&self) -> &TokenizerInfo {
            self.0.info()
        }
        fn encode(&self, text: &str) -> Result<Vec<u32>, StageError> {
            self.0.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut ids = Vec::new();
            for p in self.pieces(text).unwrap() {
                match p {
                    TextPiece::Token(id) => ids.push(id),
                    TextPiece::Text(t) => ids.extend(t.bytes().map(|b| u32::from(b) + 10)),
                }
            }
            Ok(ids)
        }
        fn pieces<'t>(&self, text: &'t str) -> Option<Vec<TextPiece<'t>>> {
            let mut out = Vec::new();
            let mut rest = text;
            while let Some(i) = rest.find("<|x|>") {
                if i > 0 {
                    out.push(TextPiece::Text(&rest[..i]));
                }
                out.push(TextPiece::Token(5));
                rest = &rest[i + 5..];
            }
            if !rest.is_empty() {
                out.push(TextPiece::Text(rest));
            }
            Some(out)
        }
        fn decode(&self, ids: &[u32]) -> Result<String, StageError> {
            self.0.decode(ids)
        }
        fn to_json(&self) -> Result<String, StageError> {
            Ok(String::new())
        }
    }

    #[test]
    fn bytes_written_then_read_inside_markers_share_their_tokens() {
        let file = "fn main() {\n    println!(\"hello\");\n}\n".repeat(3);
        let observed = format!("<|x|>{file}<|x|>\n");
        let segs = [seg(&file, Role::Code), seg(&observed, Role::Observation)];
        let e = Marked(enc(Some(1), Some(2)));
        let d = tokenize(&e, &segs).unwrap();
        // Token for token what encoding each segment whole gives.
        let mut want = vec![1];
        for s in &segs {
            want.extend(e.encode(&s.text).unwrap());
        }
        want.push(2);
        assert_eq!(d.ids(), want);
        assert_eq!(d.held_tokens(), d.len() - file.len(), "the file's bytes are held once");
        // Cuts may fall between segments only, not around the markers inside one.
        assert_eq!(d.boundaries(), vec![0, 1, 1 + file.len() as u32, d.len() as u32 - 1]);
        assert_eq!(d.runs().len(), 7, "BOS, code, marker, file, marker, newline, EOS");
        let roles = d.roles();
        assert!(
            roles[1 + file.len()..d.len() - 1]
                .iter()
                .all(|r| *r == Role::Observation.id())
        );
    }

    #[test]
    fn without_bos_eos_and_without_text() {
        let d = tokenize(&enc(None, None), &[seg("xy", Role::Code)]).unwrap();
        assert_eq!((d.ids(), d.boundaries()), (vec![130, 131], vec![0]));
        let empty = tokenize(&enc(Some(1), Some(2)), &[seg("", Role::Code)]).unwrap();
        assert!(empty.is_empty(), "no BOS/EOS around nothing");
        assert!(tokenize(&enc(Some(1), Some(2)), &[]).unwrap().is_empty());
    }
}
