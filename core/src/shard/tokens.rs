//! Segments → tokens, one role per token.

use crate::StageError;
use crate::model::{Role, Segment};
use crate::stage::TokenEncoder;

/// One document as tokens: a role per token, and where each segment starts
/// (the places a document may be split without cutting a segment).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenizedDoc {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Role id per token.
    pub roles: Vec<u8>,
    /// Token index where each segment starts, increasing, the first one 0.
    pub boundaries: Vec<u32>,
}

impl TokenizedDoc {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Segments at least this long are tokenized once per document: a repeat
/// (a file read back after it was written, a file read twice) copies the
/// tokens of its first occurrence.
const REUSE_MIN_BYTES: usize = 64;

/// Tokenizes a document segment by segment, so no token straddles two roles.
/// BOS (when the tokenizer has one) opens the document and EOS closes it, both
/// with role `markup`. Empty segments add no tokens and no boundary; a document
/// without text gives no tokens at all (not even BOS/EOS).
///
/// Each segment's tokens depend on its text alone (the encoder sees one
/// segment at a time), so a segment whose text already appeared in the
/// document gets a copy of those tokens instead of being encoded again: the
/// same ids, fewer encoder calls. In the agent format about two fifths of the
/// text is such repeats (every Read of a file written earlier).
pub fn tokenize(encoder: &dyn TokenEncoder, segments: &[Segment]) -> Result<TokenizedDoc, StageError> {
    let info = encoder.info();
    let mut doc = TokenizedDoc::default();
    let push = |doc: &mut TokenizedDoc, ids: &[u32], role: Role| -> Result<(), StageError> {
        if ids.is_empty() {
            return Ok(());
        }
        let start = u32::try_from(doc.ids.len() + ids.len())
            .map(|_| doc.ids.len() as u32)
            .map_err(|_| StageError::Invalid("document longer than 2^32 tokens".into()))?;
        doc.boundaries.push(start);
        doc.ids.extend_from_slice(ids);
        doc.roles.extend(std::iter::repeat_n(role.id(), ids.len()));
        Ok(())
    };
    if let Some(bos) = info.bos {
        push(&mut doc, &[bos], Role::Markup)?;
    }
    let before = doc.len();
    // Text → where its tokens were first placed in `doc.ids`.
    let mut seen: std::collections::HashMap<&str, std::ops::Range<usize>> = std::collections::HashMap::new();
    for s in segments {
        if s.text.is_empty() {
            continue;
        }
        let reusable = s.text.len() >= REUSE_MIN_BYTES;
        if let Some(range) = reusable.then(|| seen.get(s.text.as_str())).flatten() {
            let ids = doc.ids[range.clone()].to_vec();
            push(&mut doc, &ids, s.role)?;
            continue;
        }
        let ids = encoder.encode(&s.text)?;
        let start = doc.len();
        push(&mut doc, &ids, s.role)?;
        if reusable {
            seen.insert(&s.text, start..doc.len());
        }
    }
    if doc.len() == before {
        return Ok(TokenizedDoc::default());
    }
    if let Some(eos) = info.eos {
        push(&mut doc, &[eos], Role::Markup)?;
    }
    Ok(doc)
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
        assert_eq!(d.ids, vec![1, 107, 108, 109, 2]);
        let m = Role::Markup.id();
        assert_eq!(
            d.roles,
            vec![m, Role::Think.id(), Role::Think.id(), Role::Observation.id(), m]
        );
        assert_eq!(d.boundaries, vec![0, 1, 3, 4], "the empty segment adds no boundary");
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
        assert_eq!((d.ids, d.roles), (ids, roles));
        let lens: Vec<u32> = segs.iter().map(|s| s.text.len() as u32).collect();
        let mut at = 1;
        let mut want = vec![0];
        for l in lens {
            want.push(at);
            at += l;
        }
        want.push(at);
        assert_eq!(d.boundaries, want);
    }

    #[test]
    fn without_bos_eos_and_without_text() {
        let d = tokenize(&enc(None, None), &[seg("xy", Role::Code)]).unwrap();
        assert_eq!((d.ids, d.boundaries), (vec![130, 131], vec![0]));
        let empty = tokenize(&enc(Some(1), Some(2)), &[seg("", Role::Code)]).unwrap();
        assert!(empty.is_empty(), "no BOS/EOS around nothing");
        assert!(tokenize(&enc(Some(1), Some(2)), &[]).unwrap().is_empty());
    }
}
