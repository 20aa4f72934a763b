//! The permits of a client's requests in flight (`max_concurrency`), handed
//! out so that a server's prefix cache stays warm: a permit that comes free
//! goes to a waiting request of the same group (repository) as the request
//! that just ended, before the others, which wait in arrival order. With
//! several workers on a one-slot server (llama.cpp's default), one
//! repository's calls then run back to back instead of alternating with
//! another's, each of which would evict the other's prefix.

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// At most `n` holders at once, handed over by group.
#[derive(Debug)]
pub(crate) struct AffineGate {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    waiters: VecDeque<(u64, oneshot::Sender<()>)>,
}

/// A held permit; dropping it hands it on.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    gate: &'a AffineGate,
    group: u64,
}

/// A request waiting for a permit; if it is dropped after being handed one
/// (a cancelled future), the permit is handed on.
struct Waiting<'a> {
    gate: &'a AffineGate,
    group: u64,
    rx: Option<oneshot::Receiver<()>>,
}

impl AffineGate {
    /// A gate of `n` permits (at least 1).
    pub(crate) fn new(n: usize) -> Self {
        Self {
            state: Mutex::new(State {
                free: n.max(1),
                waiters: VecDeque::new(),
            }),
        }
    }

    /// Waits for a permit for a request of `group`.
    pub(crate) async fn acquire(&self, group: u64) -> Permit<'_> {
        let rx = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.free > 0 && st.waiters.is_empty() {
                st.free -= 1;
                return Permit { gate: self, group };
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.push_back((group, tx));
            rx
        };
        let mut waiting = Waiting {
            gate: self,
            group,
            rx: Some(rx),
        };
        if let Some(rx) = waiting.rx.as_mut() {
            // The sender is only dropped when the gate is (never while a
            // request waits on it); either way the wait is over.
            let _ = rx.await;
        }
        waiting.rx = None;
        Permit { gate: self, group }
    }

    /// Hands a permit freed by a request of `group` to the first waiter of the
    /// same group, else to the first waiter, else back to the pool.
    fn release(&self, group: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let at = st.waiters.iter().position(|(g, _)| *g == group).unwrap_or(0);
            match st.waiters.remove(at) {
                Some((_, tx)) => {
                    if tx.send(()).is_ok() {
                        return;
                    }
                    // That waiter was cancelled: the next one.
                }
                None => {
                    st.free += 1;
                    return;
                }
            }
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.gate.release(self.group);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release(self.group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One permit, requests of two groups waiting in alternation: a freed
    /// permit goes to the same group first, and never more than one is out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_freed_permit_goes_to_the_same_group_first() {
        let gate = Arc::new(AffineGate::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(AtomicUsize::new(0));
        let first = gate.acquire(0).await;
        let mut tasks = Vec::new();
        for i in 0..8u64 {
            let (gate, order, held) = (Arc::clone(&gate), Arc::clone(&order), Arc::clone(&held));
            tasks.push(tokio::spawn(async move {
                let _p = gate.acquire(i % 2).await;
                assert_eq!(held.fetch_add(1, Ordering::SeqCst), 0, "one permit only");
                order.lock().unwrap().push(i % 2);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                held.fetch_sub(1, Ordering::SeqCst);
            }));
            // Queue them in order.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 0, 0, 0, 1, 1, 1, 1]);
    }

    /// A waiter that is cancelled loses nothing: its permit goes on.
    #[tokio::test]
    async fn a_cancelled_waiter_hands_its_permit_on() {
        let gate = AffineGate::new(1);
        let held = gate.acquire(1).await;
        {
            let waiting = gate.acquire(2);
            // Polled once (queued), then dropped.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(5), waiting).await;
        }
        drop(held);
        let again = tokio::time::timeout(std::time::Duration::from_millis(100), gate.acquire(3)).await;
        assert!(again.is_ok(), "the permit came back");
    }
}
