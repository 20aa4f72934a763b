//! Attention forward + backward on the CPU (`flex` + autodiff): chunked
//! (FlashAttention-2 tiling with its own backward step) against the naive
//! attention that materialises the `[b, h, t, t]` scores.
//!
//! `cargo bench -p repo2agent-trainer --bench attention [-- NAME...]` (cases whose
//! name contains one of the NAMEs; `ATTENTION_BENCH_CHUNK` sets the tile edge).
//!
//! Every case runs in a child process of its own (this binary again, with
//! `ATTENTION_BENCH_CASE` set), so that its peak memory is its own:
//! - "heap peak" counts the bytes live through Rust's global allocator (which
//!   burn-flex allocates its buffers with) at the worst moment of the
//!   forward + backward pass, minus what was live before it (the inputs);
//! - "RSS peak" is the child's `VmHWM` from `/proc/self/status`: the whole
//!   process (inputs, allocator slack, thread stacks, binary) at its worst.
//!
//! Time is one forward + backward (loss = sum of the outputs), gradients
//! read back; the best of `reps` runs after one warm-up where affordable.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use repo2agent_trainer::attention::{chunked_attention, naive_attention};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's arguments; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const B: usize = 1;
const H: usize = 4;
const KV: usize = 2;
const D: usize = 64;
/// Tile edge; `ATTENTION_BENCH_CHUNK` overrides it.
fn chunk() -> usize {
    std::env::var("ATTENTION_BENCH_CHUNK")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Naive,
    Chunked,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    kind: Kind,
    t: usize,
    /// Length of the packed documents (`t` for one document).
    doc: usize,
    reps: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "naive-4096",
        kind: Kind::Naive,
        t: 4096,
        doc: 4096,
        reps: 3,
    },
    Case {
        name: "naive-8192",
        kind: Kind::Naive,
        t: 8192,
        doc: 8192,
        reps: 1,
    },
    Case {
        name: "chunked-4096",
        kind: Kind::Chunked,
        t: 4096,
        doc: 4096,
        reps: 3,
    },
    Case {
        name: "chunked-16384",
        kind: Kind::Chunked,
        t: 16384,
        doc: 16384,
        reps: 1,
    },
    Case {
        name: "chunked-65536",
        kind: Kind::Chunked,
        t: 65536,
        doc: 65536,
        reps: 0,
    },
    Case {
        name: "chunked-65536-docs-4096",
        kind: Kind::Chunked,
        t: 65536,
        doc: 4096,
        reps: 1,
    },
];

fn random(seed: u64, shape: [usize; 4], device: &Device) -> Tensor<4> {
    let mut rng = repo2agent_trainer::data::SplitMix64(seed);
    let n = shape.iter().product::<usize>();
    let v: Vec<f32> = (0..n)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// One forward + backward; seconds.
fn run(case: &Case) -> f64 {
    // The CPU device as a run chooses it (allocator setting included).
    let device = repo2agent_trainer::device::device("flex").expect("flex").autodiff();
    let q = random(1, [B, H, case.t, D], &device).require_grad();
    let k = random(2, [B, KV, case.t, D], &device).require_grad();
    let v = random(3, [B, KV, case.t, D], &device).require_grad();
    let docs: Vec<i64> = (0..B * case.t).map(|i| ((i % case.t) / case.doc) as i64).collect();
    let docs = Tensor::<2, Int>::from_data(TensorData::new(docs, [B, case.t]), &device);
    let start = Instant::now();
    let out = match case.kind {
        Kind::Naive => naive_attention(q.clone(), k.clone(), v.clone(), docs),
        Kind::Chunked => chunked_attention(q.clone(), k.clone(), v.clone(), docs, chunk()),
    };
    let grads = out.sum().backward();
    for x in [&q, &k, &v] {
        let g = x.grad(&grads).expect("gradient").into_data();
        assert!(g.iter::<f32>().all(f32::is_finite));
    }
    start.elapsed().as_secs_f64()
}

/// In the child: run one case, print `seconds heap_peak_bytes rss_peak_kib`.
fn child(name: &str) {
    let case = CASES.iter().find(|c| c.name == name).expect("known case");
    let mut best = f64::INFINITY;
    let mut heap = 0;
    for _ in 0..case.reps.max(1) + usize::from(case.reps > 0) {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        best = best.min(run(case));
        heap = heap.max(PEAK.load(Ordering::Relaxed) - before);
    }
    println!(
        "{best} {heap} {}",
        (repo2agent_trainer::device::peak_rss_mb() * 1024.0) as u64
    );
}

fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / (1024.0 * 1024.0))
}

fn main() {
    if let Ok(name) = std::env::var("ATTENTION_BENCH_CASE") {
        return child(&name);
    }
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let exe = std::env::current_exe().expect("own path");
    println!(
        "b={B} h={H} kv={KV} d={D} chunk={}, forward + backward, flex (CPU) autodiff",
        chunk()
    );
    println!(
        "{:<26} {:>7} {:>6} {:>10} {:>10} {:>11} {:>11}",
        "case", "t", "doc", "seconds", "tokens/s", "heap peak", "RSS peak"
    );
    for case in CASES {
        if !wanted.is_empty() && !wanted.iter().any(|w| case.name.contains(w.as_str())) {
            continue;
        }
        let out = Command::new(&exe)
            .env("ATTENTION_BENCH_CASE", case.name)
            .output()
            .expect("child process");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<f64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        let [secs, heap, rss] = fields[..] else {
            println!(
                "{:<26} {:>7} failed: {} {}",
                case.name,
                case.t,
                out.status,
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
            );
            continue;
        };
        println!(
            "{:<26} {:>7} {:>6} {:>10.3} {:>10.0} {:>11} {:>11}",
            case.name,
            case.t,
            case.doc,
            secs,
            (B * case.t) as f64 / secs,
            mib(heap),
            mib(rss * 1024.0)
        );
    }
}
