//! The project's own scripts install what they use.

use repo2agent_tests::*;
use std::path::Path;
use std::process::Command;

/// Writes an executable shell script.
fn shim(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `scripts/test --deps-only` with `bin/` first on PATH; returns what it asked
/// apt-get to do (one call per line).
fn deps_only(bin: &Path, apt_log: &Path) -> String {
    let _ = std::fs::remove_file(apt_log);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg(workspace_root().join("scripts/test"))
        .arg("--deps-only")
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(apt_log).unwrap_or_default()
}

/// Regression: `scripts/test` ran `python3 -m pip` with a system Python that
/// has none (a stock Debian image) and failed; it now installs python3-pip.
#[test]
fn regression_scripts_test_installs_pip_when_the_system_python_has_none() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let apt_log = tmp.path().join("apt.log");
    // apt-get records what it is asked and succeeds; sudo is not needed as root.
    shim(&bin.join("apt-get"), &format!("echo \"$*\" >> '{}'", apt_log.display()));
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v python3"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let real = real.trim();
    // A Python without pip: `-m pip` fails as on Debian without python3-pip.
    shim(
        &bin.join("python3"),
        &format!("[ \"$1\" = -m ] && [ \"$2\" = pip ] && exit 1\nexec '{real}' \"$@\""),
    );
    let asked = deps_only(&bin, &apt_log);
    assert!(asked.contains("update"), "{asked}");
    let install = asked.lines().find(|l| l.contains("install")).unwrap_or_default();
    assert!(install.split_whitespace().any(|w| w == "python3-pip"), "{asked}");

    // With pip there (this machine's Python), pip is not asked for.
    std::fs::remove_file(bin.join("python3")).unwrap();
    let asked = deps_only(&bin, &apt_log);
    assert!(!asked.contains("python3-pip"), "{asked}");
}
