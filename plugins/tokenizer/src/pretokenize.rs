//! The split patterns of the common byte-level BPE tokenizers, as hand-written
//! scanners: the pre-tokenization regex is most of the time a Hugging Face
//! tokenizer spends on code (Llama 3 on real Rust: 1.07 s of 1.31 s), and a
//! scanner that knows the pattern does the same split in a few per cent of it.
//!
//! Each [`Pattern`] reproduces one regex exactly, under Oniguruma's leftmost,
//! first-alternative semantics (what `tokenizers` runs). The character classes
//! (`\p{L}`, `\p{N}`, `\s` and the case folds of `(?i:'s|…)`) are not a second
//! Unicode table: they are read once from Oniguruma itself, by matching the
//! class against every code point, so both sides classify every character
//! alike. The tests compare the splits with the `tokenizers` pre-tokenizers on
//! real code and on generated text of tricky characters.

use std::ops::Range;
use std::sync::OnceLock;

/// The Llama 3 (and GPT-4 `cl100k`) split regex.
pub(crate) const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: Llama 3's with one digit per number.
pub(crate) const QWEN2: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// GPT-2's (the `ByteLevel` pre-tokenizer with `use_regex`; `tokenizers` has it built in).
#[cfg(test)]
pub(crate) const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// SmolLM2's second split (after every digit is isolated): GPT-2's without
/// the last alternative, which gives the same splits (an unmatched single
/// whitespace character is a split of its own either way).
pub(crate) const GPT2_NO_TAIL: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

/// A split pattern the scanner reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// [`LLAMA3`] (`max_digits` 3) or [`QWEN2`] (1).
    Cl100k {
        /// Digits per number split.
        max_digits: usize,
    },
    /// [`GPT2`]; with `isolate_numbers`, every `\p{N}` character is first
    /// split off on its own (SmolLM2: `Split(\p{N})` before the GPT-2 split).
    Gpt2 {
        /// Whether numbers are isolated first.
        isolate_numbers: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Letter,
    Number,
    /// `\r` or `\n`.
    Newline,
    /// Any other `\s`.
    Space,
    Other,
}

/// Oniguruma's classes of every code point.
struct Classes {
    ascii: [Class; 128],
    letter: Vec<Range<u32>>,
    number: Vec<Range<u32>>,
    space: Vec<Range<u32>>,
    /// For each of `s t r e v m l d`: the characters `(?i:x)` matches.
    folds: [(u8, Vec<char>); 8],
}

fn all_code_points() -> String {
    (0u32..=0x10FFFF).filter_map(char::from_u32).collect()
}

/// Code point ranges `regex` matches in `all` (every code point in order).
fn ranges(all: &str, regex: &str) -> Vec<Range<u32>> {
    let re = onig::Regex::new(regex).unwrap_or_else(|e| panic!("built-in class regex {regex}: {e}"));
    re.find_iter(all)
        .filter_map(|(s, e)| {
            let first = all[s..].chars().next()? as u32;
            let last = all[..e].chars().next_back()? as u32;
            Some(first..last + 1)
        })
        .collect()
}

fn classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let all = all_code_points();
        let letter = ranges(&all, r"\p{L}+");
        let number = ranges(&all, r"\p{N}+");
        let space = ranges(&all, r"\s+");
        let within = |rs: &[Range<u32>], c: u32| rs.iter().any(|r| r.contains(&c));
        let mut ascii = [Class::Other; 128];
        for (c, slot) in ascii.iter_mut().enumerate() {
            let c = c as u32;
            *slot = if c == u32::from(b'\r') || c == u32::from(b'\n') {
                Class::Newline
            } else if within(&space, c) {
                Class::Space
            } else if within(&letter, c) {
                Class::Letter
            } else if within(&number, c) {
                Class::Number
            } else {
                Class::Other
            };
        }
        let candidates: Vec<char> = ranges(&all, "(?i:s|t|r|e|v|m|l|d)")
            .into_iter()
            .flatten()
            .filter_map(char::from_u32)
            .collect();
        let folds = [b's', b't', b'r', b'e', b'v', b'm', b'l', b'd'].map(|x| {
            let re = onig::Regex::new(&format!("^(?i:{})$", x as char)).unwrap_or_else(|e| panic!("fold regex: {e}"));
            let set = candidates
                .iter()
                .copied()
                .filter(|c| re.is_match(c.encode_utf8(&mut [0; 4])))
                .collect();
            (x, set)
        });
        Classes {
            ascii,
            letter,
            number,
            space,
            folds,
        }
    })
}

impl Classes {
    fn of(&self, c: char) -> Class {
        let u = c as u32;
        if u < 128 {
            return self.ascii[u as usize];
        }
        let hit = |rs: &[Range<u32>]| {
            rs.binary_search_by(|r| {
                if r.end <= u {
                    std::cmp::Ordering::Less
                } else if r.start > u {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
        };
        if hit(&self.space) {
            Class::Space
        } else if hit(&self.letter) {
            Class::Letter
        } else if hit(&self.number) {
            Class::Number
        } else {
            Class::Other
        }
    }

    /// Whether `c` is `x` under `(?i)`.
    fn folds_to(&self, c: char, x: u8) -> bool {
        if c.is_ascii() {
            return c.to_ascii_lowercase() == x as char;
        }
        self.folds.iter().any(|(l, set)| *l == x && set.contains(&c))
    }
}

/// A cursor over `text` that decodes one character at a time.
struct Text<'a> {
    s: &'a str,
    classes: &'static Classes,
}

impl Text<'_> {
    fn at(&self, i: usize) -> Option<(char, usize)> {
        let b = *self.s.as_bytes().get(i)?;
        if b < 0x80 {
            return Some((b as char, 1));
        }
        let c = self.s[i..].chars().next()?;
        Some((c, c.len_utf8()))
    }

    fn class(&self, i: usize) -> Option<(Class, usize)> {
        self.at(i).map(|(c, n)| (self.classes.of(c), n))
    }

    /// The end of the run of characters from `i` whose class satisfies `keep`,
    /// at most `max` of them.
    fn run(&self, mut i: usize, max: usize, keep: impl Fn(Class) -> bool) -> usize {
        let mut n = 0;
        while n < max {
            match self.class(i) {
                Some((c, len)) if keep(c) => {
                    i += len;
                    n += 1;
                }
                _ => break,
            }
        }
        i
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (case-insensitively with `fold`).
    fn contraction(&self, i: usize, fold: bool) -> Option<usize> {
        if self.s.as_bytes().get(i) != Some(&b'\'') {
            return None;
        }
        let is = |j: usize, x: u8| -> Option<usize> {
            let (c, n) = self.at(j)?;
            let ok = if fold {
                self.classes.folds_to(c, x)
            } else {
                c == x as char
            };
            ok.then_some(j + n)
        };
        let j = i + 1;
        for one in [b's', b't'] {
            if let Some(e) = is(j, one) {
                return Some(e);
            }
        }
        for (a, b) in [(b'r', b'e'), (b'v', b'e')] {
            if let Some(e) = is(j, a).and_then(|k| is(k, b)) {
                return Some(e);
            }
        }
        if let Some(e) = is(j, b'm') {
            return Some(e);
        }
        if let Some(e) = is(j, b'l').and_then(|k| is(k, b'l')) {
            return Some(e);
        }
        is(j, b'd')
    }

    /// The end of the whitespace run from `i` (`\s+`), and where its last
    /// character starts.
    fn spaces(&self, i: usize) -> (usize, usize) {
        let (mut end, mut last) = (i, i);
        while let Some((Class::Space | Class::Newline, n)) = self.class(end) {
            last = end;
            end += n;
        }
        (end, last)
    }

    /// `\s+(?!\S)|\s+` at a whitespace character `i`.
    fn trailing_spaces(&self, i: usize) -> usize {
        let (end, last) = self.spaces(i);
        if end == self.s.len() || last == i { end } else { last }
    }

    /// The Llama 3 / Qwen2 pattern: the end of the split starting at `i`.
    fn cl100k(&self, i: usize, max_digits: usize) -> usize {
        let Some((c0, n0)) = self.class(i) else {
            return i;
        };
        if let Some(e) = self.contraction(i, true) {
            return e;
        }
        let letters = |j: usize| self.run(j, usize::MAX, |c| c == Class::Letter);
        match c0 {
            Class::Letter => return letters(i),
            Class::Number => return self.run(i, max_digits, |c| c == Class::Number),
            Class::Space | Class::Other => {
                if let Some((Class::Letter, _)) = self.class(i + n0) {
                    return letters(i + n0);
                }
            }
            Class::Newline => {}
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        let start = if self.s.as_bytes()[i] == b' ' && matches!(self.class(i + 1), Some((Class::Other, _))) {
            Some(i + 1)
        } else if c0 == Class::Other {
            Some(i)
        } else {
            None
        };
        if let Some(j) = start {
            let j = self.run(j, usize::MAX, |c| c == Class::Other);
            return self.run(j, usize::MAX, |c| c == Class::Newline);
        }
        // Whitespace: \s*[\r\n]+ ends after the run's last newline.
        let (end, _) = self.spaces(i);
        let mut j = i;
        let mut after_newline = None;
        while j < end {
            let (c, n) = self.class(j).unwrap_or((Class::Other, 1));
            j += n;
            if c == Class::Newline {
                after_newline = Some(j);
            }
        }
        after_newline.unwrap_or_else(|| self.trailing_spaces(i))
    }

    /// The GPT-2 pattern on `self.s` (a whole piece): the split at `i`.
    fn gpt2(&self, i: usize) -> usize {
        let Some((c0, _)) = self.class(i) else {
            return i;
        };
        if let Some(e) = self.contraction(i, false) {
            return e;
        }
        let (first, j) = if self.s.as_bytes()[i] == b' ' {
            match self.class(i + 1) {
                Some((c @ (Class::Letter | Class::Number | Class::Other), _)) => (c, i + 1),
                _ => (c0, i),
            }
        } else {
            (c0, i)
        };
        match first {
            Class::Letter | Class::Number | Class::Other => self.run(j, usize::MAX, |c| c == first),
            Class::Space | Class::Newline => self.trailing_spaces(i),
        }
    }
}

/// Calls `each` with every split of `text` under `pattern`, in order; the
/// splits concatenate to `text`.
pub(crate) fn split<'a>(pattern: Pattern, text: &'a str, mut each: impl FnMut(&'a str)) {
    let classes = classes();
    match pattern {
        Pattern::Cl100k { max_digits } => {
            let t = Text { s: text, classes };
            let mut i = 0;
            while i < text.len() {
                let e = t.cl100k(i, max_digits).max(i + 1);
                each(&text[i..e]);
                i = e;
            }
        }
        Pattern::Gpt2 { isolate_numbers } => {
            let mut piece = |p: &'a str| {
                let t = Text { s: p, classes };
                let mut i = 0;
                while i < p.len() {
                    let e = t.gpt2(i).max(i + 1);
                    each(&p[i..e]);
                    i = e;
                }
            };
            if !isolate_numbers {
                return piece(text);
            }
            let mut start = 0;
            for (i, c) in text.char_indices() {
                if classes.of(c) == Class::Number {
                    piece(&text[start..i]);
                    piece(&text[i..i + c.len_utf8()]);
                    start = i + c.len_utf8();
                }
            }
            piece(&text[start..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(p: Pattern, s: &str) -> Vec<String> {
        let mut v = Vec::new();
        split(p, s, |w| v.push(w.to_owned()));
        v
    }

    /// The splits Oniguruma gives (the way `tokenizers`' `Split` isolates
    /// matches: the text between two matches is a split too).
    fn onig_splits(regex: &str, s: &str) -> Vec<String> {
        let re = onig::Regex::new(regex).unwrap();
        let mut out = Vec::new();
        let mut prev = 0;
        for (a, b) in re.find_iter(s) {
            if a != prev {
                out.push(s[prev..a].to_owned());
            }
            out.push(s[a..b].to_owned());
            prev = b;
        }
        if prev != s.len() {
            out.push(s[prev..].to_owned());
        }
        out
    }

    const TRICKY: &str = "fn main() {\n    let x = 1234567;  // don't 'S 'RE 'ſ 'Ll\r\n\r\n\t\tx\t(y)\n\n  \n \u{a0}é e\u{301} \u{3000}中文 ١٢٣٤ ²³ Ⅻ 😀! ...\n}\n   \u{85}\u{2028}x  '  'd'\n 12 a1b2";

    #[test]
    fn each_pattern_splits_like_oniguruma() {
        for (p, re) in [
            (Pattern::Cl100k { max_digits: 3 }, LLAMA3),
            (Pattern::Cl100k { max_digits: 1 }, QWEN2),
            (Pattern::Gpt2 { isolate_numbers: false }, GPT2),
        ] {
            assert_eq!(ours(p, TRICKY), onig_splits(re, TRICKY), "{re}");
            assert_eq!(ours(p, ""), Vec::<String>::new());
        }
        let smol: Vec<String> = onig_splits(r"\p{N}", TRICKY)
            .iter()
            .flat_map(|piece| onig_splits(GPT2_NO_TAIL, piece))
            .collect();
        assert_eq!(ours(Pattern::Gpt2 { isolate_numbers: true }, TRICKY), smol);
    }

    #[test]
    fn classes_come_from_oniguruma() {
        let c = classes();
        assert_eq!(c.of('a'), Class::Letter);
        assert_eq!(c.of('中'), Class::Letter);
        assert_eq!(c.of('٣'), Class::Number);
        assert_eq!(c.of('\u{3000}'), Class::Space);
        assert_eq!(c.of('\n'), Class::Newline);
        assert_eq!(c.of('\u{301}'), Class::Other);
        assert!(c.folds_to('ſ', b's'));
        assert!(!c.folds_to('ſ', b't'));
    }
}
