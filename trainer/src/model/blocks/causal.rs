//! What a decoder-only model adds to attention: the causal mask (a query sees itself and the
//! keys before it, never padding) and the KV cache that lets generation feed one new token at a
//! time while attending to every earlier one.
//!
//! Rows are right-padded: a row's real tokens come first, so the positions of the real tokens
//! are `0..len` whatever the padding, and a padded row's logits equal the unpadded row's.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::MASKED_SCORE;

/// `[batch, seq]` mask of the new tokens (1 = token, 0 = padding; right padding) after `past`
/// cached positions → `[batch, 1, seq, past + seq]` additive scores: 0 where query `i`
/// (absolute position `past + i`) may see key `j` (`j <= past + i` and key `j` not padding),
/// [`MASKED_SCORE`] elsewhere. Cached keys are all real tokens.
///
/// Built on the host: the mask is small (one score per query–key pair of a row), and a padding
/// query keeps key 0, so no row of scores is ever entirely masked.
pub fn causal_mask_add<B: Backend>(attention_mask: Tensor<B, 2, Int>, past: usize) -> Tensor<B, 4> {
    let [batch, seq] = attention_mask.dims();
    let device = attention_mask.device();
    let keys = past + seq;
    let real: Vec<bool> = attention_mask
        .into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .expect("an Int tensor converts to i64")
        .into_iter()
        .map(|m| m != 0)
        .collect();
    let mut scores = vec![0f32; batch * seq * keys];
    for b in 0..batch {
        for i in 0..seq {
            let row = &mut scores[(b * seq + i) * keys..(b * seq + i + 1) * keys];
            for (j, s) in row.iter_mut().enumerate() {
                let visible = j <= past + i && (j < past || real[b * seq + j - past]);
                if !visible {
                    *s = MASKED_SCORE;
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(scores, [batch, 1, seq, keys]), &device)
}

/// Per-layer keys and values of the positions already run, `[batch, kv_heads, len, head_dim]`
/// each (after rotary embedding, so a cached key never changes).
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a model of `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: vec![None; num_layers],
        }
    }

    /// How many positions are cached (those of the first layer: every layer holds as many once
    /// a forward pass has completed).
    pub fn len(&self) -> usize {
        match self.layers.first() {
            Some(Some((k, _))) => k.dims()[2],
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of layers the cache was made for.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Appends the new positions' `k`, `v` (`[batch, kv_heads, new, head_dim]`) to `layer`'s
    /// cache and returns its full keys and values (`[batch, kv_heads, len + new, head_dim]`).
    pub fn append(
        &mut self,
        layer: usize,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let full = match self.layers[layer].take() {
            None => (k, v),
            Some((ck, cv)) => (Tensor::cat(vec![ck, k], 2), Tensor::cat(vec![cv, v], 2)),
        };
        self.layers[layer] = Some(full.clone());
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    fn visible(mask: Tensor<Cpu, 4>) -> Vec<Vec<Vec<u8>>> {
        let [b, _, s, k] = mask.dims();
        let v = mask.into_data().into_vec::<f32>().unwrap();
        (0..b)
            .map(|b| {
                (0..s)
                    .map(|i| {
                        (0..k)
                            .map(|j| u8::from(v[(b * s + i) * k + j] == 0.0))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn causal_and_padding() {
        let device = Default::default();
        let mask = Tensor::<Cpu, 2, Int>::from_ints([[1, 1, 1], [1, 1, 0]], &device);
        let v = visible(causal_mask_add(mask, 0));
        assert_eq!(v[0], [vec![1, 0, 0], vec![1, 1, 0], vec![1, 1, 1]]);
        // The padding key is hidden from every query, the padding query included.
        assert_eq!(v[1], [vec![1, 0, 0], vec![1, 1, 0], vec![1, 1, 0]]);
    }

    #[test]
    fn cached_positions_are_visible() {
        let device = Default::default();
        let mask = Tensor::<Cpu, 2, Int>::from_ints([[1, 1]], &device);
        let v = visible(causal_mask_add(mask, 2));
        assert_eq!(v[0], [vec![1, 1, 1, 0], vec![1, 1, 1, 1]]);
    }

    #[test]
    fn cache_appends_along_positions() {
        let device = Default::default();
        let mut cache = KvCache::<Cpu>::new(2);
        assert!(cache.is_empty());
        let t = |n: usize| Tensor::<Cpu, 4>::ones([1, 2, n, 4], &device);
        let (k, v) = cache.append(0, t(3), t(3));
        assert_eq!((k.dims(), v.dims()), ([1, 2, 3, 4], [1, 2, 3, 4]));
        cache.append(1, t(3), t(3));
        let (k, _) = cache.append(0, t(1), t(1));
        assert_eq!(k.dims(), [1, 2, 4, 4]);
        assert_eq!(cache.len(), 4);
    }
}
