//! Learning-rate schedule: linear warmup, then cosine decay to a floor.

/// Warmup + cosine settings.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CosineSchedule {
    /// Peak learning rate (reached at the end of warmup).
    pub peak: f64,
    /// Final learning rate (at `total_steps` and after).
    pub min: f64,
    /// Steps of linear warmup from `peak / warmup_steps`.
    pub warmup_steps: u64,
    /// Total optimizer steps.
    pub total_steps: u64,
}

impl CosineSchedule {
    /// The learning rate of optimizer step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        if self.warmup_steps > 0 && step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay = self.total_steps.saturating_sub(self.warmup_steps);
        if decay == 0 || step >= self.total_steps {
            return self.min;
        }
        let progress = (step - self.warmup_steps) as f64 / decay as f64;
        self.min + 0.5 * (self.peak - self.min) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_the_floor() {
        let s = CosineSchedule {
            peak: 1e-3,
            min: 1e-4,
            warmup_steps: 4,
            total_steps: 14,
        };
        let lrs: Vec<f64> = (0..16).map(|i| s.lr(i)).collect();
        assert!((lrs[0] - 2.5e-4).abs() < 1e-12);
        assert!((lrs[3] - 1e-3).abs() < 1e-12, "peak at the end of warmup");
        assert!((lrs[4] - 1e-3).abs() < 1e-12, "cosine starts at the peak");
        assert!((lrs[9] - 5.5e-4).abs() < 1e-12, "half way: the mean of peak and floor");
        assert!(lrs[4..14].windows(2).all(|w| w[1] < w[0]), "decreasing");
        assert_eq!((lrs[14], lrs[15]), (1e-4, 1e-4));
        let flat = CosineSchedule {
            warmup_steps: 0,
            total_steps: 0,
            ..s
        };
        assert_eq!(flat.lr(0), 1e-4);
    }
}
