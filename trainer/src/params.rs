//! Parameters by name: the model's burn paths mapped to Hugging Face Llama
//! names, and generic visiting/mapping of every float parameter by that name.
//!
//! Every weight file we read or write (HF safetensors, our checkpoints, the
//! optimizer state) uses the HF names, so a checkpoint is a valid HF model.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

use crate::model::Llama;

/// The HF name of the parameter at burn path `path` (e.g. `layers.3.wq.weight`
/// → `model.layers.3.self_attn.q_proj.weight`), and whether its burn layout is
/// the transpose of HF's (burn's `Linear` stores `[in, out]`, PyTorch `[out, in]`).
pub fn hf_name(path: &str) -> (String, bool) {
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["embed", "weight"] => ("model.embed_tokens.weight".into(), false),
        ["norm", "gamma"] => ("model.norm.weight".into(), false),
        ["lm_head", "weight"] => ("lm_head.weight".into(), true),
        ["layers", i, module, _] => {
            let (name, linear) = match *module {
                "attn_norm" => ("input_layernorm", false),
                "mlp_norm" => ("post_attention_layernorm", false),
                "wq" => ("self_attn.q_proj", true),
                "wk" => ("self_attn.k_proj", true),
                "wv" => ("self_attn.v_proj", true),
                "wo" => ("self_attn.o_proj", true),
                "w_gate" => ("mlp.gate_proj", true),
                "w_up" => ("mlp.up_proj", true),
                "w_down" => ("mlp.down_proj", true),
                other => (other, false),
            };
            (format!("model.layers.{i}.{name}.weight"), linear)
        }
        _ => (path.to_string(), false),
    }
}

/// A float parameter seen by name: `[n]`-flattened value in burn's layout and
/// burn's shape.
#[derive(Debug)]
pub struct Named {
    /// HF name.
    pub name: String,
    /// Whether HF's layout is the transpose of burn's (2-d, `[in, out]` here).
    pub transposed: bool,
    /// burn's dims.
    pub dims: Vec<usize>,
    /// The value, flattened (burn layout).
    pub value: Tensor<1>,
    /// burn's parameter id.
    pub id: ParamId,
}

impl Named {
    /// The dims in HF's layout.
    pub fn hf_dims(&self) -> Vec<usize> {
        let mut d = self.dims.clone();
        if self.transposed {
            d.reverse();
        }
        d
    }

    /// The value in HF's layout (row-major), as host floats.
    pub fn hf_values(&self) -> Vec<f32> {
        let v = self.value.clone();
        let v = if self.transposed {
            let [i, o] = [self.dims[0], self.dims[1]];
            v.reshape([i, o]).transpose().reshape([i * o])
        } else {
            v
        };
        v.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
    }
}

#[derive(Default)]
struct Collect {
    path: Vec<String>,
    out: Vec<Named>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let dims = value.dims().to_vec();
        let n: usize = dims.iter().product();
        let (name, transposed) = hf_name(&self.path.join("."));
        self.out.push(Named {
            name,
            transposed: transposed && D == 2,
            dims,
            value: value.reshape([n]),
            id: param.id,
        });
    }
}

/// Every float parameter of `model` with its HF name, in module order.
pub fn named_params(model: &Llama) -> Vec<Named> {
    let mut c = Collect::default();
    model.visit(&mut c);
    c.out
}

/// What a [`map_named`] callback returns for one parameter.
pub type MapFn<'a> = dyn FnMut(&Named) -> Option<Tensor<1>> + 'a;

struct Mapper<'a> {
    path: Vec<String>,
    f: &'a mut MapFn<'a>,
}

impl ModuleMapper for Mapper<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, value, mapper) = param.consume();
        let dims = value.dims();
        let n: usize = dims.iter().product();
        let (name, transposed) = hf_name(&self.path.join("."));
        let named = Named {
            name,
            transposed: transposed && D == 2,
            dims: dims.to_vec(),
            value: value.clone().reshape([n]),
            id,
        };
        let value = match (self.f)(&named) {
            Some(new) => {
                let new = new.reshape(dims);
                if value.is_autodiff() {
                    let new = Tensor::from_inner(new.inner());
                    if value.is_require_grad() {
                        new.require_grad()
                    } else {
                        new
                    }
                } else {
                    new
                }
            }
            None => value,
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

/// Replaces parameters: `f` gets each one by name and returns its new flattened
/// value (burn layout, same size), or `None` to keep it. Parameters that
/// required gradients still do.
pub fn map_named<'a>(model: Llama, f: &'a mut MapFn<'a>) -> Llama {
    let mut m = Mapper { path: Vec::new(), f };
    model.map(&mut m)
}
