//! The one place where built-in plugins are registered.

use repo2agent_core::Registry;

/// A registry holding every built-in plugin.
pub fn registry() -> anyhow::Result<Registry> {
    let mut r = Registry::new();
    repo2agent_maskers::register(&mut r)?;
    repo2agent_search::register(&mut r)?;
    repo2agent_scorers::register(&mut r)?;
    repo2agent_treesitter::register(&mut r)?;
    repo2agent_template::register(&mut r)?;
    repo2agent_openai::register(&mut r)?;
    repo2agent_formatters::register(&mut r)?;
    repo2agent_tokenizer::register(&mut r)?;
    Ok(r)
}
