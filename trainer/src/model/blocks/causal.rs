//! The attention mask of causal language models: each query sees itself, the keys before it
//! and none of the padding, as Hugging Face's causal masks combine `attention_mask` with the
//! lower triangle.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use super::attention::MASKED_SCORE;

/// `[batch, past + seq]` attention mask (1 = attend, 0 = padding) over the `past` cached keys
/// and the `seq` new ones → `[batch, 1, seq, past + seq]` additive scores: 0 where query `i` (at
/// absolute position `past + i`) may see key `j` (`j <= past + i` and key `j` not padding),
/// [`MASKED_SCORE`] elsewhere. Broadcast over heads.
pub fn causal_mask_add<B: Backend>(attention_mask: Tensor<B, 2, Int>, past: usize) -> Tensor<B, 4> {
    let [batch, keys] = attention_mask.dims();
    let seq = keys - past;
    let device = attention_mask.device();
    let shape = [batch, 1, seq, keys];
    // Key j is in the future of query i when j > past + i.
    let key_pos = Tensor::<B, 1, Int>::arange(0..keys as i64, &device).reshape([1, 1, 1, keys]);
    let query_pos =
        Tensor::<B, 1, Int>::arange(past as i64..keys as i64, &device).reshape([1, 1, seq, 1]);
    let future = key_pos.expand(shape).greater(query_pos.expand(shape));
    let padding = attention_mask
        .equal_elem(0)
        .reshape([batch, 1, 1, keys])
        .expand(shape);
    // mask_fill rather than arithmetic: in f16 the constant is -inf and 0 * -inf is NaN.
    Tensor::<B, 4>::zeros(shape, &device).mask_fill(future.bool_or(padding), MASKED_SCORE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    fn masked(t: Tensor<Cpu, 4>) -> Vec<bool> {
        let v = t.into_data().convert::<f32>().into_vec::<f32>().unwrap();
        v.into_iter().map(|x| x == MASKED_SCORE).collect()
    }

    #[test]
    fn lower_triangle_without_padding() {
        let device = Default::default();
        // Row 0: three tokens; row 1: two tokens, right-padded.
        let mask = Tensor::<Cpu, 2, Int>::from_ints([[1, 1, 1], [1, 1, 0]], &device);
        let m = causal_mask_add(mask, 0);
        assert_eq!(m.dims(), [2, 1, 3, 3]);
        let (f, t) = (false, true);
        #[rustfmt::skip]
        let want = vec![
            f, t, t,  f, f, t,  f, f, f,
            f, t, t,  f, f, t,  f, f, t,
        ];
        assert_eq!(masked(m), want);
    }

    #[test]
    fn new_queries_see_every_cached_key() {
        let device = Default::default();
        // Two cached keys (the first padding), two new queries.
        let mask = Tensor::<Cpu, 2, Int>::from_ints([[0, 1, 1, 1]], &device);
        let m = causal_mask_add(mask, 2);
        assert_eq!(m.dims(), [1, 1, 2, 4]);
        let (f, t) = (false, true);
        assert_eq!(masked(m), vec![t, f, f, t, t, f, f, f]);
    }
}
