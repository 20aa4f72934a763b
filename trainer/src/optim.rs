//! AdamW with decoupled weight decay (as PyTorch's `torch.optim.AdamW`),
//! weight decay excludable by parameter name, gradient accumulation over
//! micro-batches and clipping by the **global** gradient norm (burn's built-in
//! clipping works per tensor).
//!
//! State is kept by HF parameter name, so it can be saved beside the model in a
//! checkpoint ([`AdamW::state_tensors`]) and restored exactly.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Gradients, Tensor, TensorData};

use crate::model::Llama;
use crate::params::{Named, hf_name, map_named};
use crate::weights::HostTensors;

/// AdamW settings (the learning rate comes from the schedule at each step).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AdamWConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay (multiplied by the learning rate).
    pub weight_decay: f64,
    /// Parameters whose HF name contains any of these strings get no weight
    /// decay (default: the norms and the embedding).
    pub no_decay: Vec<String>,
    /// Clip the global L2 norm of the gradient to this (0 = no clipping).
    pub clip_norm: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            no_decay: vec!["norm".into(), "embed_tokens".into()],
            clip_norm: 1.0,
        }
    }
}

impl AdamWConfig {
    /// Problems with the values.
    pub fn check(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (k, v) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                p.push(format!("{k} = {v} must be in [0, 1)"));
            }
        }
        if self.eps.is_nan() || self.eps <= 0.0 {
            p.push(format!("eps = {} must be > 0", self.eps));
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            p.push(format!("weight_decay = {} must be >= 0", self.weight_decay));
        }
        if self.clip_norm.is_nan() || self.clip_norm < 0.0 {
            p.push(format!("clip_norm = {} must be >= 0 (0 = off)", self.clip_norm));
        }
        p
    }

    /// Whether `name` gets weight decay.
    pub fn decays(&self, name: &str) -> bool {
        !self.no_decay.iter().any(|s| name.contains(s.as_str()))
    }
}

/// Gradients summed over the micro-batches of one optimizer step, by name
/// (flattened, without autodiff).
#[derive(Debug, Default)]
pub struct GradAccumulator {
    grads: BTreeMap<String, Tensor<1>>,
}

struct CollectGrads<'a> {
    path: Vec<String>,
    grads: &'a Gradients,
    acc: &'a mut BTreeMap<String, Tensor<1>>,
}

impl ModuleVisitor for CollectGrads<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = param.val().grad(self.grads) {
            let n: usize = g.dims().iter().product();
            let g = g.reshape([n]);
            let (name, _) = hf_name(&self.path.join("."));
            let sum = match self.acc.remove(&name) {
                Some(prev) => prev + g,
                None => g,
            };
            self.acc.insert(name, sum);
        }
    }
}

/// Rows the gradient's sum of squares is taken over first (see [`sum_of_squares`]).
const NORM_ROW: usize = 4096;

/// The sum of `g`'s squares, the same bits on every run and thread count: a
/// whole-tensor sum on `flex` splits large tensors over threads and adds
/// the parts in whatever order the threads finish, so it is taken by rows of
/// [`NORM_ROW`] (each row added in order, the row sums then in order).
fn sum_of_squares(g: &Tensor<1>) -> Tensor<1> {
    let n = g.dims()[0];
    let sq = g.clone() * g.clone();
    let rows = n / NORM_ROW;
    if rows == 0 {
        return sq.sum();
    }
    let body = sq
        .clone()
        .narrow(0, 0, rows * NORM_ROW)
        .reshape([rows, NORM_ROW])
        .sum_dim(1)
        .sum();
    if rows * NORM_ROW == n {
        body
    } else {
        body + sq.narrow(0, rows * NORM_ROW, n - rows * NORM_ROW).sum()
    }
}

impl GradAccumulator {
    /// Adds one micro-batch's gradients.
    pub fn add(&mut self, model: &Llama, grads: &Gradients) {
        let mut v = CollectGrads {
            path: Vec::new(),
            grads,
            acc: &mut self.grads,
        };
        model.visit(&mut v);
    }

    /// Gradients given as host tensors by HF name (flattened in burn's layout).
    pub fn from_host(grads: &HostTensors, device: &burn::tensor::Device) -> Self {
        let device = device.clone().inner();
        let grads = grads
            .iter()
            .map(|(k, (_, v))| {
                (
                    k.clone(),
                    Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device),
                )
            })
            .collect();
        Self { grads }
    }

    /// The global L2 norm of the accumulated gradient.
    pub fn global_norm(&self) -> f64 {
        let mut total: Option<Tensor<1>> = None;
        for g in self.grads.values() {
            let sq = sum_of_squares(g);
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
        total.map_or(0.0, |t| {
            f64::from(t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()[0]).sqrt()
        })
    }

    /// The accumulated gradient of `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor<1>> {
        self.grads.get(name)
    }

    /// Whether nothing was accumulated.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }
}

/// AdamW's state: the step count and both moments of every parameter.
#[derive(Debug)]
pub struct AdamW {
    /// Settings.
    pub config: AdamWConfig,
    /// Optimizer steps taken.
    pub step: u64,
    moments: BTreeMap<String, (Tensor<1>, Tensor<1>)>,
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Whether the gradient was scaled down.
    pub clipped: bool,
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(config: AdamWConfig) -> Self {
        Self {
            config,
            step: 0,
            moments: BTreeMap::new(),
        }
    }

    /// Applies one step with learning rate `lr` from the accumulated gradient
    /// (clipped by its global norm first), returning the updated model.
    pub fn step(&mut self, model: Llama, grads: &GradAccumulator, lr: f64) -> (Llama, StepReport) {
        let grad_norm = grads.global_norm();
        let clip = self.config.clip_norm;
        // PyTorch's clip_grad_norm_: scale by max_norm / (norm + 1e-6) when above.
        let scale = if clip > 0.0 && grad_norm > clip {
            clip / (grad_norm + 1e-6)
        } else {
            1.0
        };
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.config.beta1, self.config.beta2);
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let cfg = self.config.clone();
        let moments = &mut self.moments;
        let mut f = |p: &Named| {
            let g = grads.get(&p.name)?.clone();
            let g = if scale != 1.0 { g * scale } else { g };
            let w = p.value.clone().inner();
            let (m, v) = match moments.remove(&p.name) {
                Some((m, v)) => (m * b1 + g.clone() * (1.0 - b1), v * b2 + g.clone() * g * (1.0 - b2)),
                None => (g.clone() * (1.0 - b1), g.clone() * g * (1.0 - b2)),
            };
            let w = if cfg.weight_decay > 0.0 && cfg.decays(&p.name) {
                w * (1.0 - lr * cfg.weight_decay)
            } else {
                w
            };
            let denom = (v.clone() / bc2).sqrt() + cfg.eps;
            let w = w - (m.clone() / bc1) / denom * lr;
            moments.insert(p.name.clone(), (m, v));
            Some(w)
        };
        let model = map_named(model, &mut f);
        (
            model,
            StepReport {
                grad_norm,
                clipped: scale != 1.0,
            },
        )
    }

    /// The moments as host tensors (`NAME.exp_avg`, `NAME.exp_avg_sq`, PyTorch's names).
    pub fn state_tensors(&self) -> HostTensors {
        let host = |t: &Tensor<1>| {
            t.clone()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default()
        };
        let mut out = HostTensors::new();
        for (name, (m, v)) in &self.moments {
            let n = m.dims()[0];
            out.insert(format!("{name}.exp_avg"), (vec![n], host(m)));
            out.insert(format!("{name}.exp_avg_sq"), (vec![n], host(v)));
        }
        out
    }

    /// Restores the moments saved by [`AdamW::state_tensors`] at step `step`.
    pub fn load_state(&mut self, step: u64, tensors: &HostTensors, device: &burn::tensor::Device) {
        self.step = step;
        self.moments.clear();
        let device = device.clone().inner();
        for (key, (_, m)) in tensors {
            if let Some(name) = key.strip_suffix(".exp_avg")
                && let Some((_, v)) = tensors.get(&format!("{name}.exp_avg_sq"))
            {
                let t = |x: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(x.clone(), [x.len()]), &device);
                self.moments.insert(name.to_string(), (t(m), t(v)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;
    use crate::model::{Inputs, LlamaConfig};
    use crate::params::named_params;
    use burn::tensor::Device;
    use repo2agent_core::shard::mds::Sample;

    /// One document of `ids`, every position weighted `w`.
    fn example(ids: Vec<u32>, w: u8) -> Example {
        let n = ids.len();
        Example::from_sample(&Sample {
            input_ids: ids,
            indices: vec![[0, n as u32]],
            mask: vec![w; n],
            roles: vec![5; n],
            length: n as u64,
            weight: None,
        })
    }

    #[test]
    fn the_sum_of_squares_by_rows_is_the_whole_sum() {
        let device = Device::flex().inner();
        for n in [1, NORM_ROW - 1, NORM_ROW, 3 * NORM_ROW, 3 * NORM_ROW + 17] {
            let v: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0).collect();
            let want: f64 = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
            let g = Tensor::<1>::from_data(TensorData::new(v, [n]), &device);
            let got = f64::from(
                sum_of_squares(&g)
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap()[0],
            );
            assert!((got - want).abs() <= 1e-5 * want, "n {n}: {got} vs {want}");
        }
    }

    /// flex splits large products and element-wise work over rayon's
    /// threads; a gradient and its norm are the same bits on one thread and
    /// on several (sizes past flex's thresholds for going parallel).
    #[test]
    fn gradients_do_not_depend_on_the_thread_count() {
        let device = Device::flex().autodiff();
        let model = crate::weights::init_seeded(LlamaConfig::tiny(512).init(&device), 3, 0.1);
        let ex = example((0..256).map(|i| i * 37 % 512).collect(), 1);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let batch = std::slice::from_ref(&ex);
                let out = model.forward(&Inputs::from_examples(batch, &device));
                let loss = crate::loss::weighted_nll(out, &ex.targets, &ex.weights, ex.total_weight());
                let mut acc = GradAccumulator::default();
                acc.add(&model, &loss.backward());
                let grads: BTreeMap<String, Vec<u32>> = acc
                    .grads
                    .iter()
                    .map(|(k, g)| {
                        (
                            k.clone(),
                            g.clone().into_data().iter::<f32>().map(f32::to_bits).collect(),
                        )
                    })
                    .collect();
                (grads, acc.global_norm().to_bits())
            })
        };
        let one = on(1);
        assert!(one.1 != 0.0f64.to_bits());
        assert_eq!(one, on(2));
        assert_eq!(one, on(3));
    }

    fn host(model: &Llama) -> BTreeMap<String, Vec<f32>> {
        named_params(model)
            .into_iter()
            .map(|p| (p.name.clone(), p.value.into_data().try_to_vec::<f32>().unwrap()))
            .collect()
    }

    /// PyTorch's AdamW + clip_grad_norm_, in f64 on the host.
    #[test]
    fn steps_match_a_host_reference_with_clipping_and_decay_exclusions() {
        let device = Device::flex().autodiff();
        let model = crate::weights::init_seeded(LlamaConfig::tiny(20).init(&device), 5, 0.1);
        let cfg = AdamWConfig {
            clip_norm: 0.5,
            weight_decay: 0.3,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(cfg.clone());
        let mut w: BTreeMap<String, Vec<f64>> = host(&model)
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(f64::from).collect()))
            .collect();
        let mut m: BTreeMap<String, Vec<f64>> = w.iter().map(|(k, v)| (k.clone(), vec![0.0; v.len()])).collect();
        let mut v2 = m.clone();
        let mut model = model;
        let mut clipped = Vec::new();
        for step in 1..=3i32 {
            // Deterministic gradients of very different sizes per step.
            let scale = [0.0005, 3.0, 0.2][step as usize - 1];
            let grads: HostTensors = w
                .iter()
                .map(|(k, x)| {
                    let g: Vec<f32> = (0..x.len())
                        .map(|i| (((i * 7 + k.len()) % 13) as f32 - 6.0) * scale)
                        .collect();
                    (k.clone(), (vec![x.len()], g))
                })
                .collect();
            let lr = 0.01 * f64::from(step);
            let (next, report) = opt.step(model, &GradAccumulator::from_host(&grads, &device), lr);
            model = next;
            let norm: f64 = grads
                .values()
                .flat_map(|(_, g)| g.iter().map(|x| f64::from(*x).powi(2)))
                .sum::<f64>()
                .sqrt();
            assert!((report.grad_norm - norm).abs() < 1e-4 * norm);
            let c = if norm > 0.5 { 0.5 / (norm + 1e-6) } else { 1.0 };
            clipped.push(report.clipped);
            for (k, x) in w.iter_mut() {
                let g = &grads[k].1;
                for i in 0..x.len() {
                    let gi = f64::from(g[i]) * c;
                    m.get_mut(k).unwrap()[i] = 0.9 * m[k][i] + 0.1 * gi;
                    v2.get_mut(k).unwrap()[i] = 0.95 * v2[k][i] + 0.05 * gi * gi;
                    if cfg.decays(k) {
                        x[i] *= 1.0 - lr * 0.3;
                    }
                    let mh = m[k][i] / (1.0 - 0.9f64.powi(step));
                    let vh = v2[k][i] / (1.0 - 0.95f64.powi(step));
                    x[i] -= lr * mh / (vh.sqrt() + 1e-8);
                }
            }
            for (k, got) in host(&model) {
                for (a, b) in got.iter().zip(&w[&k]) {
                    assert!((f64::from(*a) - b).abs() < 1e-5, "step {step} {k}: {a} vs {b}");
                }
            }
        }
        assert_eq!(clipped, vec![false, true, true]);
        assert!(!cfg.decays("model.norm.weight") && !cfg.decays("model.embed_tokens.weight"));
        assert!(cfg.decays("model.layers.0.self_attn.q_proj.weight"));
        // The state survives a save/restore: the same next step either way.
        let saved = opt.state_tensors();
        assert_eq!(saved.len(), 2 * w.len());
        let mut again = AdamW::new(cfg);
        again.load_state(opt.step, &saved, &device);
        let grads: HostTensors = w
            .iter()
            .map(|(k, x)| (k.clone(), (vec![x.len()], vec![0.1; x.len()])))
            .collect();
        let clone = crate::weights::load_tensors(
            LlamaConfig::tiny(20).init(&device),
            &crate::weights::model_tensors(&model),
        )
        .unwrap()
        .0;
        let (a, _) = opt.step(model, &GradAccumulator::from_host(&grads, &device), 0.01);
        let (b, _) = again.step(clone, &GradAccumulator::from_host(&grads, &device), 0.01);
        assert_eq!(host(&a), host(&b));
    }

    #[test]
    fn accumulated_micro_batches_give_the_full_batch_gradient() {
        let device = Device::flex().autodiff();
        let model = crate::weights::init_seeded(LlamaConfig::tiny(20).init(&device), 9, 0.1);
        let batch = [example(vec![1, 2, 3, 4, 5], 1), example(vec![6, 7, 8, 9, 10], 1)];
        let total: f64 = batch.iter().map(Example::total_weight).sum();
        let grads_of = |es: &[Example]| {
            let out = model.forward(&Inputs::from_examples(es, &device));
            let targets: Vec<u32> = es.iter().flat_map(|e| e.targets.clone()).collect();
            let weights: Vec<f32> = es.iter().flat_map(|e| e.weights.clone()).collect();
            crate::loss::weighted_nll(out, &targets, &weights, total).backward()
        };
        let mut full = GradAccumulator::default();
        full.add(&model, &grads_of(&batch));
        let mut acc = GradAccumulator::default();
        acc.add(&model, &grads_of(&batch[..1]));
        acc.add(&model, &grads_of(&batch[1..]));
        assert_eq!(full.grads.len(), named_params(&model).len());
        for (k, g) in &full.grads {
            let a = g.clone().into_data().try_to_vec::<f32>().unwrap();
            let b = acc.get(k).unwrap().clone().into_data().try_to_vec::<f32>().unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-5, "{k}");
            }
        }
        assert!((full.global_norm() - acc.global_norm()).abs() < 1e-4);
    }
}
