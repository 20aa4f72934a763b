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
}

impl BodyPlan {
    /// `loops and matches, calling `a`, `b` and `c`` (empty when there is
    /// nothing to say).
    pub fn text(&self) -> String {
        self.text_with(6)
    }

    /// [`Self::text`] naming at most `calls` of what it calls.
    pub fn text_with(&self, calls: usize) -> String {
        let shape = crate::describe::join_list(&self.shape.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
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
            } else if !NOT_CALLS.contains(&word.as_str()) && word.len() > 1 && calls.len() < 6 {
                let w = if macro_call { format!("{word}!") } else { word };
                if !calls.contains(&w) {
                    calls.push(w);
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
    BodyPlan { shape, calls }
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
}
