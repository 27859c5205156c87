//! LoRA on a [`Llama`]: PEFT's module names (`q_proj` .. `down_proj`, relative to
//! `model.layers.N`), every base weight frozen (embeddings, norms and the head included, as PEFT
//! leaves them), and the adapters out under PEFT's names for `adapter_model.safetensors`.

use burn::module::Module;
use burn::tensor::backend::Backend;

use super::llama::Llama;
use super::NamedTensor;
use crate::model::error::ModelError;
use crate::model::lora::{AdaptedLinear, LoraConfig};

/// The linear layers of one decoder layer, relative to `model.layers.N`, in build order.
pub const LAYER_LINEARS: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

impl<B: Backend> Llama<B> {
    /// Freezes every weight and attaches adapters to the targeted projections (checked against
    /// [`LAYER_LINEARS`]); one seeded stream per layer and module, so adding a target does not
    /// shift the others' `A` matrices.
    pub fn apply_lora(self, cfg: &LoraConfig, seed: u64) -> Result<Self, ModelError> {
        cfg.check_modules(&LAYER_LINEARS)?;
        let mut model = self.no_grad();
        model.layers = model
            .layers
            .into_iter()
            .enumerate()
            .map(|(n, mut l)| {
                let adapt = |lin: AdaptedLinear<B>, idx: usize| {
                    lin.adapt_targeted(cfg, LAYER_LINEARS[idx], seed, n, idx)
                };
                let a = &mut l.self_attn;
                a.q_proj = adapt(a.q_proj.clone(), 0);
                a.k_proj = adapt(a.k_proj.clone(), 1);
                a.v_proj = adapt(a.v_proj.clone(), 2);
                a.o_proj = adapt(a.o_proj.clone(), 3);
                let m = &mut l.mlp;
                m.gate_proj = adapt(m.gate_proj.clone(), 4);
                m.up_proj = adapt(m.up_proj.clone(), 5);
                m.down_proj = adapt(m.down_proj.clone(), 6);
                l
            })
            .collect();
        Ok(model)
    }

    /// The LoRA pairs under PEFT's names and layout
    /// (`base_model.model.model.layers.N.<module>.lora_A.weight` `[r, in]`, `.lora_B.weight`
    /// `[out, r]`; ours are stored transposed). Empty without LoRA.
    pub fn lora_tensors(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for (n, l) in self.layers.iter().enumerate() {
            let (a, m) = (&l.self_attn, &l.mlp);
            let linears = [
                &a.q_proj,
                &a.k_proj,
                &a.v_proj,
                &a.o_proj,
                &m.gate_proj,
                &m.up_proj,
                &m.down_proj,
            ];
            for (name, lin) in LAYER_LINEARS.iter().zip(linears) {
                if let Some(lora) = &lin.lora {
                    let p = format!("base_model.model.model.layers.{n}.{name}");
                    out.extend(lora.peft_tensors(&p));
                }
            }
        }
        out
    }
}
