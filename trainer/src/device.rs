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

/// The device (without autodiff) for `name`. Choosing `flex` also calls
/// [`keep_freed_memory`].
pub fn device(name: &str) -> Result<Device, String> {
    check(name)?;
    if name == "flex" {
        keep_freed_memory();
    }
    match name {
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0usize)),
        _ => Ok(Device::flex()),
    }
}

/// Has the C allocator keep the memory this process frees for its next
/// allocations rather than hand it back to the kernel (glibc's `mallopt`:
/// blocks up to 32 MiB come from the heap instead of their own mappings, and
/// the heap is trimmed only above 1 GiB of free memory at its top). A CPU
/// forward or backward pass allocates and frees tensors of the same sizes
/// layer after layer; handed back each time, every new one is page-faulted
/// and zeroed again by the kernel, which cost a third of a large matmul's
/// time on the `flex` backend. Process-wide, set once; returns whether it
/// applied (glibc only; elsewhere a no-op).
pub fn keep_freed_memory() -> bool {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DONE.get_or_init(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes glibc's allocation thresholds; it is
        // called once, before this process's threads allocate through it
        // concurrently with the change (glibc takes its own lock anyway).
        return unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
        };
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        false
    })
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
    fn the_allocator_keeps_freed_memory_on_glibc() {
        assert_eq!(super::keep_freed_memory(), cfg!(target_env = "gnu"));
        assert!(super::keep_freed_memory() == super::keep_freed_memory(), "set once");
    }

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
