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

/// Tokenizes a document segment by segment, so no token straddles two roles.
/// BOS (when the tokenizer has one) opens the document and EOS closes it, both
/// with role `markup`. Empty segments add no tokens and no boundary; a document
/// without text gives no tokens at all (not even BOS/EOS).
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
    for s in segments {
        if s.text.is_empty() {
            continue;
        }
        let ids = encoder.encode(&s.text)?;
        push(&mut doc, &ids, s.role)?;
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

    /// One token per byte (id = byte + 10); BOS 1, EOS 2.
    struct Bytes(TokenizerInfo);

    impl TokenEncoder for Bytes {
        fn info(&self) -> &TokenizerInfo {
            &self.0
        }
        fn encode(&self, text: &str) -> Result<Vec<u32>, StageError> {
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
        Bytes(TokenizerInfo {
            kind: "bytes".into(),
            source: String::new(),
            vocab_size: 266,
            bos,
            eos,
            pad: 0,
            special_tokens: Vec::new(),
        })
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
    fn without_bos_eos_and_without_text() {
        let d = tokenize(&enc(None, None), &[seg("xy", Role::Code)]).unwrap();
        assert_eq!((d.ids, d.boundaries), (vec![130, 131], vec![0]));
        let empty = tokenize(&enc(Some(1), Some(2)), &[seg("", Role::Code)]).unwrap();
        assert!(empty.is_empty(), "no BOS/EOS around nothing");
        assert!(tokenize(&enc(Some(1), Some(2)), &[]).unwrap().is_empty());
    }
}
