//! `--shard K/N`: which repositories one of N workers takes. A repository
//! belongs to part `hash(name) mod N` (FNV-1a of its name, independent of the
//! seed and of the machine), so N workers with K = 0..N-1 split any corpus
//! into disjoint parts that cover it, whatever order they list it in.

/// Part `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// K, from 0.
    pub index: u32,
    /// N, at least 1.
    pub count: u32,
}

impl Partition {
    /// Parses `K/N` (0 ≤ K < N).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not K/N with 0 <= K < N (e.g. 0/4)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Whether the repository named `name` is in this part.
    pub fn contains(&self, name: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h % u64::from(self.count) == u64::from(self.index)
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_disjoint_cover_everything_and_are_balanced() {
        let names: Vec<String> = (0..3000).map(|i| format!("repo-{i}")).collect();
        let parts: Vec<Partition> = (0..3).map(|k| Partition::parse(&format!("{k}/3")).unwrap()).collect();
        for n in &names {
            assert_eq!(parts.iter().filter(|p| p.contains(n)).count(), 1, "{n}");
        }
        for p in &parts {
            let size = names.iter().filter(|n| p.contains(n)).count();
            assert!((900..1100).contains(&size), "{p}: {size}");
        }
        assert!(Partition::parse("0/1").unwrap().contains("anything"));
        // Stable: a fixed name stays in its part across builds and machines.
        assert_eq!(
            (0..4).find(|k| Partition { index: *k, count: 4 }.contains("serde")),
            Some(fnv_part("serde", 4))
        );
    }

    fn fnv_part(name: &str, n: u64) -> u32 {
        // FNV-1a 64, written out independently.
        let h = name.bytes().fold(14695981039346656037u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1099511628211)
        });
        (h % n) as u32
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        for bad in ["", "1", "3/3", "1/0", "a/b", "-1/2", "1/2/3"] {
            let e = Partition::parse(bad).unwrap_err();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
        assert_eq!(Partition::parse(" 2 / 5 ").unwrap(), Partition { index: 2, count: 5 });
        assert_eq!(Partition::parse("2/5").unwrap().to_string(), "2/5");
    }
}
