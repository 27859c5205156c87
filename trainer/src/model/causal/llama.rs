//! Llama as Hugging Face's `LlamaForCausalLM`: token embeddings, decoder layers (RMSNorm,
//! grouped-query self-attention with rotary embeddings, residual; RMSNorm, SwiGLU MLP
//! `down(silu(gate(x)) · up(x))`, residual), a final RMSNorm and the LM head (its own weight, or
//! the embedding's when tied). Field names mirror HF's module names so loading and export map
//! 1:1; every projection is an [`AdaptedLinear`] so LoRA can target `q_proj` .. `down_proj`.
//!
//! Two entry points: [`Llama::forward`] runs right-padded rows from position 0 (training,
//! scoring), [`Llama::forward_cached`] runs new tokens after a [`KvCache`] (generation).

use burn::module::Module;
use burn::nn::{Embedding, RmsNorm};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use crate::model::blocks::{
    causal_mask_add, grouped_attention, linear_tokens, Dropout, KvCache, Rope,
};
use crate::model::lora::AdaptedLinear;

use super::{named_tensor as tensor, NamedTensor};

/// `model.layers.N.self_attn`.
#[derive(Module, Debug)]
pub struct LlamaAttention<B: Backend> {
    pub q_proj: AdaptedLinear<B>,
    pub k_proj: AdaptedLinear<B>,
    pub v_proj: AdaptedLinear<B>,
    pub o_proj: AdaptedLinear<B>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl<B: Backend> LlamaAttention<B> {
    /// `x`: `[batch, seq, hidden]` at positions given by `cos`/`sin`; `mask_add`: `[batch, 1,
    /// seq, past + seq]`. The new keys and values go through `cache` (layer `layer`), which
    /// returns them with the cached ones before.
    fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: (Tensor<B, 4>, Tensor<B, 4>),
        mask_add: Tensor<B, 4>,
        cache: &mut KvCache<B>,
        layer: usize,
    ) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let heads =
            |t: Tensor<B, 3>, n: usize| t.reshape([batch, seq, n, self.head_dim]).swap_dims(1, 2);
        let (cos, sin) = rope;
        let q = heads(self.q_proj.forward(x.clone()), self.num_heads);
        let k = heads(self.k_proj.forward(x.clone()), self.num_kv_heads);
        let v = heads(self.v_proj.forward(x), self.num_kv_heads);
        let q = Rope::apply(q, cos.clone(), sin.clone());
        let k = Rope::apply(k, cos, sin);
        let (k, v) = cache.append(layer, k, v);
        let context = grouped_attention(q, k, v, mask_add, &Dropout::new(0.0));
        self.o_proj.forward(context)
    }
}

/// `model.layers.N.mlp`: SwiGLU.
#[derive(Module, Debug)]
pub struct LlamaMlp<B: Backend> {
    pub gate_proj: AdaptedLinear<B>,
    pub up_proj: AdaptedLinear<B>,
    pub down_proj: AdaptedLinear<B>,
}

impl<B: Backend> LlamaMlp<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}

/// `model.layers.N`.
#[derive(Module, Debug)]
pub struct LlamaLayer<B: Backend> {
    pub input_layernorm: RmsNorm<B>,
    pub self_attn: LlamaAttention<B>,
    pub post_attention_layernorm: RmsNorm<B>,
    pub mlp: LlamaMlp<B>,
}

/// `LlamaForCausalLM`: `model.*` and `lm_head`.
#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    pub embed_tokens: Embedding<B>,
    pub layers: Vec<LlamaLayer<B>>,
    pub norm: RmsNorm<B>,
    /// `None`: tied to `embed_tokens` (`tie_word_embeddings`).
    pub lm_head: Option<AdaptedLinear<B>>,
    pub rope: Rope,
}

impl<B: Backend> Llama<B> {
    /// Logits `[batch, seq, vocab]` of right-padded rows (`attention_mask` 1 on tokens, 0 on
    /// padding); a padded row's logits at its tokens equal the unpadded row's.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let mut cache = KvCache::new(self.layers.len());
        self.run(input_ids, attention_mask, &mut cache)
    }

    /// Logits `[batch, new, vocab]` of `input_ids` (`[batch, new]`, no padding) following the
    /// positions in `cache`, which is extended by them.
    pub fn forward_cached(
        &self,
        input_ids: Tensor<B, 2, Int>,
        cache: &mut KvCache<B>,
    ) -> Tensor<B, 3> {
        let mask = input_ids.ones_like();
        self.run(input_ids, mask, cache)
    }

    fn run(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        cache: &mut KvCache<B>,
    ) -> Tensor<B, 3> {
        let past = cache.len();
        let [_, seq] = input_ids.dims();
        let device = input_ids.device();
        let mask_add = causal_mask_add(attention_mask, past);
        let (cos, sin) = self.rope.tables::<B>(past, seq, &device);
        let mut x = self.embed_tokens.forward(input_ids);
        for (n, layer) in self.layers.iter().enumerate() {
            let h = layer.input_layernorm.forward(x.clone());
            let attn =
                layer
                    .self_attn
                    .forward(h, (cos.clone(), sin.clone()), mask_add.clone(), cache, n);
            x = x + attn;
            let h = layer.post_attention_layernorm.forward(x.clone());
            x = x + layer.mlp.forward(h);
        }
        let x = self.norm.forward(x);
        match &self.lm_head {
            Some(head) => head.forward(x),
            None => linear_tokens(x, self.embed_tokens.weight.val().transpose(), None),
        }
    }

    /// Every weight under its Hugging Face name with HF's shape (`[out, in]` for linear
    /// layers), LoRA merged, as f32: what an export writes. `lm_head.weight` only when untied.
    pub fn hf_tensors(&self) -> Vec<NamedTensor> {
        let mut out = vec![tensor(
            "model.embed_tokens.weight",
            self.embed_tokens.weight.val(),
        )];
        for (n, l) in self.layers.iter().enumerate() {
            let p = |s: &str| format!("model.layers.{n}.{s}.weight");
            let a = &l.self_attn;
            out.extend([
                tensor(&p("input_layernorm"), l.input_layernorm.gamma.val()),
                linear(&p("self_attn.q_proj"), &a.q_proj),
                linear(&p("self_attn.k_proj"), &a.k_proj),
                linear(&p("self_attn.v_proj"), &a.v_proj),
                linear(&p("self_attn.o_proj"), &a.o_proj),
                tensor(
                    &p("post_attention_layernorm"),
                    l.post_attention_layernorm.gamma.val(),
                ),
                linear(&p("mlp.gate_proj"), &l.mlp.gate_proj),
                linear(&p("mlp.up_proj"), &l.mlp.up_proj),
                linear(&p("mlp.down_proj"), &l.mlp.down_proj),
            ]);
        }
        out.push(tensor("model.norm.weight", self.norm.gamma.val()));
        if let Some(head) = &self.lm_head {
            out.push(linear("lm_head.weight", head));
        }
        out
    }
}

/// A linear layer's merged weight, transposed back to HF's `[out, in]`.
fn linear<B: Backend>(name: &str, l: &AdaptedLinear<B>) -> NamedTensor {
    tensor(name, l.merged_weight().transpose())
}
