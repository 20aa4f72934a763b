//! How a function's body goes, at the level a developer plans it before
//! typing: whether it loops, branches, matches or returns early, and what it
//! calls, in the order it first calls them. Names only, never the code.

/// The plan of one body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyPlan {
    /// Control flow, in the words a thought uses (`loops`, `matches`).
    pub shape: Vec<&'static str>,
    /// What it calls, first call first (at most six).
    pub calls: Vec<String>,
    /// What it calls as written, with the path or receiver it is called on
    /// (`hint::black_box`, `buf.format`, `os.path.join`), first call first
    /// (at most eight).
    pub written: Vec<String>,
    /// The names it binds, first binding first (at most ten): Rust `let`
    /// and `for` patterns; Python assignment targets (`self.x` included),
    /// `for` targets and `as` names.
    pub binds: Vec<String>,
}

impl BodyPlan {
    /// `loops and matches, calling `a`, `b` and `c`` (empty when there is
    /// nothing to say).
    pub fn text(&self) -> String {
        self.text_with(6)
    }

    /// [`Self::text`] naming at most `calls` of what it calls.
    pub fn text_with(&self, calls: usize) -> String {
        let shape = self.shape_text();
        let calls = crate::describe::join_list(
            &self
                .calls
                .iter()
                .take(calls)
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>(),
        );
        match (shape.is_empty(), calls.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!("calls {calls}"),
            (false, true) => shape,
            (false, false) => format!("{shape}, calling {calls}"),
        }
    }

    /// Its control flow in words (`loops, branches and recurses`).
    fn shape_text(&self) -> String {
        crate::describe::join_list(&self.shape.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    /// The body said closely: its shape, the names it binds and its calls
    /// as written (`branches, binds `x_lo` and `carry`, calls
    /// `u128::from``); [`Self::text`] when it has neither.
    pub fn text_close(&self) -> String {
        if self.written.is_empty() && self.binds.is_empty() {
            return self.text();
        }
        let list = |v: &[String]| crate::describe::join_list(&v.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>());
        let mut parts: Vec<String> = Vec::new();
        let shape = self.shape_text();
        if !shape.is_empty() {
            parts.push(shape);
        }
        if !self.binds.is_empty() {
            parts.push(format!("binds {}", list(&self.binds)));
        }
        if !self.written.is_empty() {
            parts.push(format!("calls {}", list(&self.written)));
        }
        parts.join(", ")
    }
}

/// Words that look like calls but are syntax or too common to tell anything.
const NOT_CALLS: &[&str] = &[
    "if",
    "for",
    "while",
    "match",
    "return",
    "loop",
    "fn",
    "def",
    "print",
    "println",
    "Some",
    "Ok",
    "Err",
    "self",
    "Self",
    "super",
    "len",
    "str",
    "int",
    "isinstance",
    "assert",
    "debug_assert",
    "switch",
    "catch",
    "function",
    "sizeof",
    "typeof",
    "elif",
    "not",
    "and",
    "or",
    "in",
    "with",
    "lambda",
    "yield",
    "await",
    "unwrap",
    "clone",
    "into",
    "as_ref",
    "iter",
    "new",
    "vec",
    "matches",
    "cfg",
    "try",
    "except",
    "raise",
    "del",
];

/// The plan of `body` (a declaration's text, its signature included) in
/// `language`; `name` is the declaration's own name (a recursive call is
/// said as such).
pub fn plan(body: &str, name: &str, language: Option<&str>) -> BodyPlan {
    let python = language == Some("python");
    // The part after the signature: from the first `{` or, in Python, the first `:` line end.
    let start = if python {
        body.find(":\n").map(|i| i + 2)
    } else {
        body.find('{').map(|i| i + 1)
    };
    let Some(start) = start else {
        return BodyPlan::default(); // a declaration without a body
    };
    let code = strip_comments_and_strings(&body[start.min(body.len())..], python);
    let mut shape: Vec<&'static str> = Vec::new();
    let mut add = |s: &'static str| {
        if !shape.contains(&s) {
            shape.push(s);
        }
    };
    let mut calls: Vec<String> = Vec::new();
    let mut written: Vec<String> = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    let mut returns = 0;
    let mut recursive = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '?' && !python && chars.get(i + 1).is_none_or(|n| !n.is_alphanumeric()) {
            add("passes errors up with `?`");
        }
        if !(c.is_alphabetic() || c == '_') || (i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        match word.as_str() {
            "for" | "while" | "loop" => add("loops"),
            "match" | "switch" => add("matches"),
            "if" | "elif" => add("branches"),
            "return" => returns += 1,
            "yield" => add("yields"),
            "raise" | "throw" | "panic" => add("can fail"),
            "unsafe" => add("uses `unsafe`"),
            "await" => add("awaits"),
            "try" if python => add("catches errors"),
            _ => {}
        }
        let next = chars.get(i).copied();
        let macro_call = next == Some('!') && chars.get(i + 1).is_some_and(|c| "([{".contains(*c));
        if next == Some('(') || macro_call {
            let before: String = chars[start.saturating_sub(6)..start].iter().collect();
            let on_other = before.ends_with('.') && !before.ends_with("self.")
                || before.ends_with("::") && !before.ends_with("Self::");
            if word == name && !on_other {
                recursive = true;
            } else if word == name {
                // The same name on another object (`super().__init__`): not worth naming.
            } else {
                let chain = call_chain(&chars, start, &word);
                let plain = !NOT_CALLS.contains(&word.as_str()) && word.len() > 1;
                if (plain || chain.len() > word.len()) && written.len() < 8 {
                    let w = if macro_call { format!("{chain}!") } else { chain };
                    if !written.contains(&w) {
                        written.push(w);
                    }
                }
                if plain && calls.len() < 6 {
                    let w = if macro_call { format!("{word}!") } else { word };
                    if !calls.contains(&w) {
                        calls.push(w);
                    }
                }
            }
        }
    }
    if returns > 1 {
        add("returns early");
    }
    if recursive {
        add("recurses");
    }
    let binds = if python {
        python_binds(&code)
    } else {
        rust_binds(&chars)
    };
    BodyPlan {
        shape,
        calls,
        written,
        binds,
    }
}

/// The call to `word` (starting at `start`) as written: with up to two
/// segments of path (`a::b::`) or receiver (`buf.`, `os.path.`) before it,
/// when those are plain names.
fn call_chain(chars: &[char], start: usize, word: &str) -> String {
    let mut begin = start;
    let mut segments = 0;
    while segments < 2 {
        let sep = if begin >= 2 && chars[begin - 2] == ':' && chars[begin - 1] == ':' {
            2
        } else if begin >= 1 && chars[begin - 1] == '.' {
            1
        } else {
            break;
        };
        let end = begin - sep;
        let mut s = end;
        while s > 0 && (chars[s - 1].is_alphanumeric() || chars[s - 1] == '_') {
            s -= 1;
        }
        if s == end || chars[s].is_numeric() {
            break;
        }
        begin = s;
        segments += 1;
    }
    if begin == start {
        word.to_owned()
    } else {
        chars[begin..start].iter().collect::<String>() + word
    }
}

/// Words of a pattern that are not names it binds.
const NOT_BINDS: &[&str] = &["mut", "ref", "in", "_", "self", "box"];

/// The names bound by Rust `let` and `for` patterns in `chars` (comments
/// and strings already removed), first binding first, at most ten.
fn rust_binds(chars: &[char]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() && out.len() < 10 {
        let word_at = |i: usize, w: &str| {
            let n = w.chars().count();
            chars.len() >= i + n
                && chars[i..i + n].iter().copied().eq(w.chars())
                && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
                && chars.get(i + n).is_none_or(|c| !(c.is_alphanumeric() || *c == '_'))
        };
        let (is_let, is_for) = (word_at(i, "let"), word_at(i, "for"));
        if !(is_let || is_for) {
            i += 1;
            continue;
        }
        i += 3;
        // The pattern runs to `=` / `:` (let) or `in` (for) at depth 0.
        let mut depth = 0i32;
        let mut j = i;
        while j < chars.len() {
            let c = chars[j];
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
            if depth < 0 || c == ';' {
                break;
            }
            if depth == 0 && is_let && (c == ':' && chars.get(j + 1) != Some(&':') || c == '=') {
                break;
            }
            if is_for && word_at(j, "in") {
                break;
            }
            j += 1;
        }
        let pattern: String = chars[i..j.min(chars.len())].iter().collect();
        for w in pattern.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            let name = w.trim_matches(':');
            let lower = name.chars().next().is_some_and(|c| c.is_lowercase() || c == '_');
            let fresh = !out.iter().any(|o| o == name);
            if lower && !w.contains("::") && !NOT_BINDS.contains(&name) && fresh && out.len() < 10 {
                out.push(name.to_owned());
            }
        }
        i = j;
    }
    out
}

/// The names a Python body binds: assignment targets at the start of a
/// statement (`a, b = …`, `self.x = …`), `for` targets and `as` names.
fn python_binds(code: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |names: &str| {
        for n in names.split(',') {
            let n = n.trim().trim_matches(|c| c == '(' || c == ')' || c == '*');
            let ok = !n.is_empty()
                && n.split('.').all(|p| {
                    p.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                        && p.chars().all(|c| c.is_alphanumeric() || c == '_')
                })
                && n.split('.').count() <= 2
                && !NOT_BINDS.contains(&n);
            if ok && out.len() < 10 && !out.iter().any(|o| o == n) {
                out.push(n.to_owned());
            }
        }
    };
    for line in code.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("for ") {
            if let Some(k) = rest.find(" in ") {
                add(&rest[..k]);
            }
        } else if let Some(k) = l
            .find(" as ")
            .filter(|_| l.starts_with("with ") || l.starts_with("except "))
        {
            add(l[k + 4..].trim_end_matches(':'));
        } else if let Some(k) = l.find(" = ") {
            // ` = ` with spaces: an assignment, not a keyword argument.
            let lhs = l[..k].split(':').next().unwrap_or_default();
            let plain = lhs.split(',').all(|p| !p.trim().contains(' '));
            if plain && !lhs.contains(['(', '[', '"', '\'', '=', '<', '>', '!']) {
                add(lhs);
            }
        }
    }
    out
}

/// `code` with comments removed and string literals emptied.
fn strip_comments_and_strings(code: &str, python: bool) -> String {
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == '\\' {
                chars.next();
            } else if c == q {
                quote = None;
                out.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quote = Some('"');
                out.push(c);
            }
            '\'' if python => {
                quote = Some('\'');
                out.push(c);
            }
            '#' if python => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if !python && chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rust_body_is_read_as_its_shape_and_calls() {
        let body = "fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {\n    // write the words\n    \
                    for w in self.0.as_ref().split('-') {\n        if w.is_empty() { return Ok(()); }\n        \
                    write!(f, \"{}\", lowercase(w))?;\n    }\n    transform(self.0.as_ref(), f)\n}";
        let p = plan(body, "fmt", Some("rust"));
        assert_eq!(p.shape, ["loops", "branches", "passes errors up with `?`"]);
        assert_eq!(p.calls, ["split", "is_empty", "write!", "lowercase", "transform"]);
        assert_eq!(
            p.text(),
            "loops, branches and passes errors up with `?`, calling `split`, `is_empty`, `write!`, `lowercase` and `transform`"
        );
    }

    #[test]
    fn a_python_body_with_early_returns_recursion_and_no_strings() {
        let body = "def walk(node):\n    \"\"\"Walk(it).\"\"\"\n    if node is None:\n        return []\n    \
                    try:\n        kids = children(node)  # helper(x)\n    except KeyError:\n        raise Bad('oops(')\n    \
                    return [walk(k) for k in kids]\n";
        let p = plan(body, "walk", Some("python"));
        assert_eq!(
            p.shape,
            [
                "branches",
                "catches errors",
                "can fail",
                "loops",
                "returns early",
                "recurses"
            ]
        );
        assert_eq!(p.calls, ["children", "Bad"]);
    }

    #[test]
    fn a_rust_body_said_closely_names_its_bindings_and_calls_as_written() {
        let body = "fn do_bench(c: &mut Criterion, name: &str) {\n    let mut group = c.benchmark_group(name);\n    \
                    let (lo, hi) = split(x as u64);\n    let Some(first): Option<u8> = iter.next() else { return };\n    \
                    for (i, item) in items.iter().enumerate() {\n        let v = hint::black_box(item);\n        \
                        group.bench_function(\"a::b(\", |b| itoa::Buffer::new().format(v));\n    }\n    vec![1].len();\n}";
        let p = plan(body, "do_bench", Some("rust"));
        assert_eq!(p.binds, ["group", "lo", "hi", "first", "i", "item", "v"]);
        assert_eq!(
            p.written,
            [
                "c.benchmark_group",
                "split",
                "iter.next",
                "items.iter",
                "enumerate",
                "hint::black_box",
                "group.bench_function",
                "itoa::Buffer::new"
            ]
        );
        // The plain list keeps the bare names and leaves out the common ones.
        assert_eq!(
            p.calls,
            [
                "benchmark_group",
                "split",
                "next",
                "enumerate",
                "black_box",
                "bench_function"
            ]
        );
        assert_eq!(
            p.text_close(),
            "loops, binds `group`, `lo`, `hi`, `first`, `i`, `item` and `v`, calls \
             `c.benchmark_group`, `split`, `iter.next`, `items.iter`, `enumerate`, `hint::black_box`, \
             `group.bench_function` and `itoa::Buffer::new`"
        );
    }

    #[test]
    fn a_python_body_said_closely_binds_targets_but_not_keyword_arguments() {
        let body = "def load(self, path):\n    self.path = path\n    data, size = read(path)\n    \
                    total: int = 0\n    with open(path) as fh:\n        for i, line in enumerate(fh):\n            \
                    total += parse(line, strict=True)\n    if total == 0:\n        x = os.path.join(a, b)\n    \
                    try:\n        pass\n    except KeyError as err:\n        raise\n";
        let p = plan(body, "load", Some("python"));
        assert_eq!(
            p.binds,
            ["self.path", "data", "size", "total", "fh", "i", "line", "x", "err"]
        );
        assert_eq!(p.written, ["read", "open", "enumerate", "parse", "os.path.join"]);
    }

    #[test]
    fn a_body_without_bindings_or_written_calls_is_said_as_before() {
        let p = plan("fn f() {\n    loop {}\n}", "f", Some("rust"));
        assert!(p.binds.is_empty() && p.written.is_empty());
        assert_eq!(p.text_close(), p.text());
        assert_eq!(p.text_close(), "loops");
    }
}
