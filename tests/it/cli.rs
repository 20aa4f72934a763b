use repo2agent_tests::*;

#[test]
fn help_lists_every_command() {
    let (code, out, _) = run_cli(&workspace_root(), &["--help"]);
    assert_eq!(code, 0);
    for cmd in ["run", "check", "plugins"] {
        assert!(out.contains(cmd), "{out}");
    }
}
