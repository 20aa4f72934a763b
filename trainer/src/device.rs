//! The device a run trains on, chosen by name in the config. `flex` (CPU) is
//! always built; `wgpu` and `cuda` need the cargo features of the same names
//! (`cargo build --features wgpu`); asking for one that was not built is a
//! config error, reported before any work.

use burn::tensor::Device;

/// Device names the config accepts.
pub const NAMES: &[&str] = &["flex", "wgpu", "cuda"];

/// Whether `name` is a device name at all.
pub fn known(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Whether this build can use `name` (an error saying how to get it if not).
pub fn check(name: &str) -> Result<(), String> {
    let built = match name {
        "flex" => true,
        "wgpu" => cfg!(feature = "wgpu"),
        "cuda" => cfg!(feature = "cuda"),
        _ => false,
    };
    if built {
        Ok(())
    } else {
        Err(format!(
            "device `{name}` is not in this build; rebuild with `cargo build --release --features {name}`"
        ))
    }
}

/// The device (without autodiff) for `name`.
pub fn device(name: &str) -> Result<Device, String> {
    check(name)?;
    match name {
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0usize)),
        _ => Ok(Device::flex()),
    }
}

/// This process's peak resident memory in MB (Linux `VmHWM`; 0 elsewhere),
/// for benchmarks that report memory.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets this process's peak resident memory to its current resident memory
/// (Linux `clear_refs` with 5; nothing elsewhere), so that a benchmark can
/// measure several configurations in one process.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_peak_rss_falls_back_after_a_reset() {
        // 256 MB touched and freed: the high-water mark stays up until reset.
        super::reset_peak_rss();
        let before = super::peak_rss_mb();
        let big = vec![1u8; 256 << 20];
        assert_eq!(std::hint::black_box(&big)[12345], 1);
        drop(big);
        let high = super::peak_rss_mb();
        assert!(high >= before + 200.0, "{before} -> {high}");
        super::reset_peak_rss();
        let after = super::peak_rss_mb();
        assert!(after < high - 200.0, "reset: {high} -> {after}");
    }
}
