//! BERT for sequence classification, as Hugging Face's `BertForSequenceClassification`:
//! embeddings (word + position + token type, LayerNorm, dropout), encoder layers (self-attention
//! with an additive padding mask, output dense + residual + LayerNorm, intermediate with exact
//! GELU, output dense + residual + LayerNorm), pooler (dense + tanh on `[CLS]`) and classifier
//! (dropout + linear). Field names mirror HF's module names so loading and export map 1:1.
//!
//! Dropout is active only on autodiff backends (burn's rule): train on `Autodiff<_>`, evaluate
//! on the inner backend (`model.valid()`), as HF's `train()`/`eval()`.

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::activation::{gelu_approximate, relu};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use super::blocks::fused::{dropout_add, embedding, gelu, layer_norm};
use super::blocks::{additive_mask, self_attention, Dropout};
use super::config::Activation;
use super::lora::AdaptedLinear;

/// `bert.embeddings`.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub token_type_embeddings: Embedding<B>,
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
    /// The LayerNorms' epsilon (`layer_norm_eps`; burn keeps its own private).
    #[module(skip)]
    pub layer_norm_eps: f64,
}

impl<B: Backend> BertEmbeddings<B> {
    /// `[batch, seq]` ids → `[batch, seq, hidden]`.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..seq as i64, &device)
            .unsqueeze::<2>()
            .expand([batch, seq]);
        let x = embedding(&self.word_embeddings, input_ids)
            + embedding(&self.position_embeddings, positions)
            + embedding(&self.token_type_embeddings, token_type_ids);
        self.dropout
            .forward(layer_norm(&self.layer_norm, self.layer_norm_eps, x))
    }
}

/// `encoder.layer.N.attention`: self-attention plus its output projection.
#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    /// `attention.self.query`
    pub query: AdaptedLinear<B>,
    /// `attention.self.key`
    pub key: AdaptedLinear<B>,
    /// `attention.self.value`
    pub value: AdaptedLinear<B>,
    /// `attention.output.dense`
    pub output_dense: AdaptedLinear<B>,
    /// `attention.output.LayerNorm`
    pub output_layer_norm: LayerNorm<B>,
    pub probs_dropout: Dropout,
    pub hidden_dropout: Dropout,
    pub num_heads: usize,
    #[module(skip)]
    pub layer_norm_eps: f64,
}

impl<B: Backend> BertAttention<B> {
    /// `x`: `[batch, seq, hidden]`; `mask_add`: `[batch, 1, 1, seq]` (see
    /// [`additive_mask`]).
    pub fn forward(&self, x: Tensor<B, 3>, mask_add: Tensor<B, 4>) -> Tensor<B, 3> {
        let context = self_attention(
            self.query.forward(x.clone()),
            self.key.forward(x.clone()),
            self.value.forward(x.clone()),
            mask_add,
            self.num_heads,
            &self.probs_dropout,
        );
        let out = dropout_add(&self.hidden_dropout, self.output_dense.forward(context), x);
        layer_norm(&self.output_layer_norm, self.layer_norm_eps, out)
    }
}

/// `encoder.layer.N`.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub attention: BertAttention<B>,
    /// `intermediate.dense`
    pub intermediate: AdaptedLinear<B>,
    /// `output.dense`
    pub output: AdaptedLinear<B>,
    /// `output.LayerNorm`
    pub output_layer_norm: LayerNorm<B>,
    pub hidden_dropout: Dropout,
    #[module(skip)]
    pub activation: ActivationKind,
    #[module(skip)]
    pub layer_norm_eps: f64,
}

/// The feed-forward activation as a module-friendly value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationKind(pub Activation);

impl<B: Backend> BertLayer<B> {
    pub fn forward(&self, x: Tensor<B, 3>, mask_add: Tensor<B, 4>) -> Tensor<B, 3> {
        let attended = self.attention.forward(x, mask_add);
        let h = self.intermediate.forward(attended.clone());
        let h = match self.activation.0 {
            Activation::Gelu => gelu(h),
            Activation::GeluTanh => gelu_approximate(h),
            Activation::Relu => relu(h),
        };
        let out = dropout_add(&self.hidden_dropout, self.output.forward(h), attended);
        layer_norm(&self.output_layer_norm, self.layer_norm_eps, out)
    }
}

/// `bert`: embeddings, encoder and pooler.
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    pub embeddings: BertEmbeddings<B>,
    /// `encoder.layer`
    pub layers: Vec<BertLayer<B>>,
    /// `pooler.dense`
    pub pooler: Linear<B>,
}

impl<B: Backend> BertModel<B> {
    /// The last hidden state, `[batch, seq, hidden]`.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let mask_add = additive_mask(attention_mask);
        let mut x = self.embeddings.forward(input_ids, token_type_ids);
        for layer in &self.layers {
            x = layer.forward(x, mask_add.clone());
        }
        x
    }

    /// The pooled output: `tanh(dense(hidden[:, 0]))`, `[batch, hidden]`.
    pub fn pool(&self, hidden: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, _, dim] = hidden.dims();
        let cls = hidden.slice([0..batch, 0..1, 0..dim]).reshape([batch, dim]);
        self.pooler.forward(cls).tanh()
    }
}

/// `BertForSequenceClassification`: `bert` plus `dropout` and `classifier`.
#[derive(Module, Debug)]
pub struct BertClassifier<B: Backend> {
    pub bert: BertModel<B>,
    pub dropout: Dropout,
    /// `classifier`: `[hidden, num_labels]`.
    pub classifier: Linear<B>,
}

impl<B: Backend> BertClassifier<B> {
    /// Logits, `[batch, num_labels]`. All inputs are `[batch, seq]`; `attention_mask` is 1 for
    /// tokens and 0 for padding.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        let hidden = self.bert.forward(input_ids, attention_mask, token_type_ids);
        self.head(hidden)
    }

    /// Pooler, dropout and classifier on a last hidden state.
    pub fn head(&self, hidden: Tensor<B, 3>) -> Tensor<B, 2> {
        let pooled = self.bert.pool(hidden);
        self.classifier.forward(self.dropout.forward(pooled))
    }

    /// The number of labels the head predicts.
    pub fn num_labels(&self) -> usize {
        self.classifier.weight.shape().dims::<2>()[1]
    }

    /// Whether any layer carries a LoRA adapter.
    pub fn has_lora(&self) -> bool {
        self.bert.layers.iter().any(|l| {
            [
                &l.attention.query,
                &l.attention.key,
                &l.attention.value,
                &l.attention.output_dense,
                &l.intermediate,
                &l.output,
            ]
            .iter()
            .any(|lin| lin.lora.is_some())
        })
    }

    /// The same model with every LoRA adapter folded into its base weight.
    pub fn merge_lora(mut self) -> Self {
        self.bert.layers = self
            .bert
            .layers
            .into_iter()
            .map(|mut l| {
                l.attention.query = l.attention.query.merge();
                l.attention.key = l.attention.key.merge();
                l.attention.value = l.attention.value.merge();
                l.attention.output_dense = l.attention.output_dense.merge();
                l.intermediate = l.intermediate.merge();
                l.output = l.output.merge();
                l
            })
            .collect();
        self
    }

    /// Counts of (trainable, all) parameters: see [`super::param_counts`].
    pub fn param_counts(&self) -> (usize, usize) {
        super::param_counts(self)
    }
}
