//! GPT-2 as Hugging Face's `GPT2LMHeadModel`: token and learned position embeddings, pre-LayerNorm
//! blocks (`ln_1` → causal self-attention through the fused `c_attn` projection split into
//! q/k/v → `c_proj`, residual; `ln_2` → `c_fc` → tanh-GELU → `c_proj`, residual), `ln_f`, and
//! the LM head tied to `wte`. Field names mirror HF's modules, so loading, export and LoRA
//! targets (`c_attn`, `c_proj`, `c_fc`) map 1:1.
//!
//! HF's Conv1D stores its weight `[in, out]`, which is burn's `Linear` layout: the tensors load
//! and export untransposed. Loading is in [`super::gpt2_load`], the config in
//! [`super::gpt2_config`].

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::activation::gelu_approximate;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use crate::model::blocks::{causal_mask_add, linear_tokens, self_attention, Dropout};
use crate::model::error::ModelError;
use crate::model::lora::{AdaptedLinear, LoraConfig};

use super::{named_tensor as tensor, NamedTensor};

/// The HF names, relative to `transformer.h.N`, of the linear layers of one block, in the
/// order LoRA seeds them. LoRA targets are matched against these (PEFT's suffix rule).
pub const LAYER_LINEARS: [&str; 4] = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"];

/// `transformer.h.N.attn`.
#[derive(Module, Debug)]
pub struct Gpt2Attention<B: Backend> {
    /// q, k and v in one projection, `[n_embd, 3·n_embd]`.
    pub c_attn: AdaptedLinear<B>,
    pub c_proj: AdaptedLinear<B>,
    pub attn_dropout: Dropout,
    pub resid_dropout: Dropout,
    pub n_head: usize,
}

impl<B: Backend> Gpt2Attention<B> {
    /// `x`: `[batch, seq, n_embd]`; `mask_add`: `[batch, 1, seq, seq]` (see
    /// [`causal_mask_add`]).
    pub fn forward(&self, x: Tensor<B, 3>, mask_add: Tensor<B, 4>) -> Tensor<B, 3> {
        let mut qkv = self.c_attn.forward(x).chunk(3, 2).into_iter();
        let (q, k, v) = match (qkv.next(), qkv.next(), qkv.next()) {
            (Some(q), Some(k), Some(v)) => (q, k, v),
            _ => unreachable!("c_attn's output width is 3·n_embd"),
        };
        let context = self_attention(q, k, v, mask_add, self.n_head, &self.attn_dropout);
        self.resid_dropout.forward(self.c_proj.forward(context))
    }
}

/// `transformer.h.N.mlp`.
#[derive(Module, Debug)]
pub struct Gpt2Mlp<B: Backend> {
    pub c_fc: AdaptedLinear<B>,
    pub c_proj: AdaptedLinear<B>,
    pub dropout: Dropout,
}

impl<B: Backend> Gpt2Mlp<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        // HF's `gelu_new`: the tanh approximation.
        let h = gelu_approximate(self.c_fc.forward(x));
        self.dropout.forward(self.c_proj.forward(h))
    }
}

/// `transformer.h.N`: two pre-LayerNorm residual branches.
#[derive(Module, Debug)]
pub struct Gpt2Block<B: Backend> {
    pub ln_1: LayerNorm<B>,
    pub attn: Gpt2Attention<B>,
    pub ln_2: LayerNorm<B>,
    pub mlp: Gpt2Mlp<B>,
}

impl<B: Backend> Gpt2Block<B> {
    pub fn forward(&self, x: Tensor<B, 3>, mask_add: Tensor<B, 4>) -> Tensor<B, 3> {
        let x = x.clone() + self.attn.forward(self.ln_1.forward(x), mask_add);
        x.clone() + self.mlp.forward(self.ln_2.forward(x))
    }
}

/// `GPT2LMHeadModel`.
#[derive(Module, Debug)]
pub struct Gpt2<B: Backend> {
    pub wte: Embedding<B>,
    pub wpe: Embedding<B>,
    pub drop: Dropout,
    pub h: Vec<Gpt2Block<B>>,
    pub ln_f: LayerNorm<B>,
    /// An untied LM head, `[n_embd, vocab]`; `None` when tied to `wte` (GPT-2's default).
    pub lm_head: Option<burn::nn::Linear<B>>,
}

impl<B: Backend> Gpt2<B> {
    /// The longest sequence the learned positions cover (`n_positions`).
    pub fn max_positions(&self) -> usize {
        self.wpe.weight.dims()[0]
    }

    /// Logits `[batch, seq, vocab]` of `input_ids` (`[batch, seq]`, rows right-padded,
    /// `seq <= max_positions()`) under `attention_mask` (1 = token, 0 = padding): each position
    /// sees itself and the tokens before it, never padding.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        // Right padding: positions count from 0 in every row, as HF's default position ids.
        let positions = Tensor::<B, 1, Int>::arange(0..seq as i64, &device)
            .unsqueeze::<2>()
            .expand([batch, seq]);
        let mut x = self
            .drop
            .forward(self.wte.forward(input_ids) + self.wpe.forward(positions));
        let mask_add = causal_mask_add(attention_mask, 0);
        for block in &self.h {
            x = block.forward(x, mask_add.clone());
        }
        let x = self.ln_f.forward(x);
        match &self.lm_head {
            Some(head) => linear_tokens(x, head.weight.val(), None),
            None => linear_tokens(x, self.wte.weight.val().transpose(), None),
        }
    }

    /// Freezes every weight and attaches LoRA adapters to the targeted linear layers (checked
    /// against [`LAYER_LINEARS`]); `seed` draws the `A` matrices, one stream per layer and
    /// module, so adding a target does not shift the others.
    pub fn apply_lora(self, cfg: &LoraConfig, seed: u64) -> Result<Self, ModelError> {
        cfg.check_modules(&LAYER_LINEARS)?;
        let mut model = self.no_grad();
        model.h = model
            .h
            .into_iter()
            .enumerate()
            .map(|(n, mut b)| {
                let adapt = |lin: AdaptedLinear<B>, idx: usize| {
                    lin.adapt_targeted(cfg, LAYER_LINEARS[idx], seed, n, idx)
                };
                b.attn.c_attn = adapt(b.attn.c_attn, 0);
                b.attn.c_proj = adapt(b.attn.c_proj, 1);
                b.mlp.c_fc = adapt(b.mlp.c_fc, 2);
                b.mlp.c_proj = adapt(b.mlp.c_proj, 3);
                b
            })
            .collect();
        Ok(model)
    }

    /// Each block's linear layers with their names relative to `transformer.h.N`.
    fn linears(&self) -> impl Iterator<Item = (usize, &'static str, &AdaptedLinear<B>)> {
        self.h.iter().enumerate().flat_map(|(n, b)| {
            [
                (n, LAYER_LINEARS[0], &b.attn.c_attn),
                (n, LAYER_LINEARS[1], &b.attn.c_proj),
                (n, LAYER_LINEARS[2], &b.mlp.c_fc),
                (n, LAYER_LINEARS[3], &b.mlp.c_proj),
            ]
        })
    }

    /// Every tensor under the name and shape `GPT2LMHeadModel.save_pretrained` writes, LoRA
    /// merged (Conv1D weights `[in, out]`; the tied head is not stored, as HF does not).
    pub fn hf_tensors(&self) -> Vec<NamedTensor> {
        let mut out = vec![
            tensor("transformer.wte.weight", self.wte.weight.val()),
            tensor("transformer.wpe.weight", self.wpe.weight.val()),
        ];
        let norm = |out: &mut Vec<NamedTensor>, name: &str, ln: &LayerNorm<B>| {
            out.push(tensor(&format!("{name}.weight"), ln.gamma.val()));
            if let Some(beta) = &ln.beta {
                out.push(tensor(&format!("{name}.bias"), beta.val()));
            }
        };
        for (n, b) in self.h.iter().enumerate() {
            norm(&mut out, &format!("transformer.h.{n}.ln_1"), &b.ln_1);
            norm(&mut out, &format!("transformer.h.{n}.ln_2"), &b.ln_2);
        }
        norm(&mut out, "transformer.ln_f", &self.ln_f);
        for (n, name, lin) in self.linears() {
            let p = format!("transformer.h.{n}.{name}");
            out.push(tensor(&format!("{p}.weight"), lin.merged_weight()));
            if let Some(bias) = &lin.base.bias {
                out.push(tensor(&format!("{p}.bias"), bias.val()));
            }
        }
        if let Some(head) = &self.lm_head {
            // HF's nn.Linear: [vocab, n_embd].
            out.push(tensor("lm_head.weight", head.weight.val().transpose()));
        }
        out
    }

    /// The LoRA pairs under PEFT's names and layout:
    /// `base_model.model.transformer.h.N.<module>.lora_A.weight` `[r, in]` and `.lora_B.weight`
    /// `[out, r]` (ours are stored transposed: `A` `[in, r]`, `B` `[r, out]`). Empty without
    /// LoRA.
    pub fn lora_tensors(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for (n, name, lin) in self.linears() {
            if let Some(lora) = &lin.lora {
                out.extend(
                    lora.peft_tensors(&format!("base_model.model.transformer.h.{n}.{name}")),
                );
            }
        }
        out
    }
}
