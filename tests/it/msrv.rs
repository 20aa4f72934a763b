//! The workspace's `rust-version` is the real minimum: once it said 1.85 while
//! the code used let-chains (1.88) and burn 0.22 declared 1.95.

use repo2agent_tests::*;
use std::process::Command;

/// "1.95" / "1.95.0" → (1, 95, 0).
fn version(v: &str) -> (u64, u64, u64) {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("host line")
        .to_owned()
}

#[test]
fn regression_rust_version_is_at_least_what_every_dependency_declares() {
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        // This platform's packages: the others' sources need not be here.
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
        ])
        .arg(host_triple())
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let mut ours = None;
    let mut newest = ("", (0, 0, 0));
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let declared = package["rust_version"].as_str();
        if members.contains(&package["id"].as_str().unwrap()) {
            // Every member states the workspace's minimum, and all agree.
            let declared = declared.unwrap_or_else(|| panic!("{name} has no rust-version"));
            assert_eq!(*ours.get_or_insert(declared), declared, "{name}");
        } else if let Some(v) = declared.map(version)
            && v > newest.1
        {
            newest = (name, v);
        }
    }
    let ours = version(ours.expect("workspace members"));
    assert!(
        ours >= newest.1,
        "rust-version {ours:?} is older than {} needs ({:?})",
        newest.0,
        newest.1
    );
    // And the toolchain building this is at least that new.
    let rustc = Command::new("rustc").arg("--version").output().unwrap();
    let rustc = String::from_utf8_lossy(&rustc.stdout);
    let v = rustc.split_whitespace().nth(1).unwrap_or_default();
    assert!(version(v) >= ours, "{rustc}");
}
