//! Each fused kernel against burn's composed ops on the same backend: forward values and every
//! input gradient, with dropout, LoRA-style frozen parameters and padding included.

use burn::module::{Module, Param};
use burn::nn::LayerNormConfig;
use burn::tensor::activation::softmax;
use burn::tensor::{Distribution, Tensor, TensorData, Tolerance};

use super::super::{additive_mask, Dropout};
use super::*;

type T<const D: usize> = Tensor<Fast, D>;

fn random<const D: usize>(shape: [usize; D], seed: u64) -> T<D> {
    Fast::seed(&Default::default(), seed);
    T::random(shape, Distribution::Normal(0.0, 1.0), &Default::default()).require_grad()
}

fn close<const D: usize>(a: Tensor<Cpu, D>, b: Tensor<Cpu, D>) {
    a.into_data()
        .assert_approx_eq::<f32>(&b.into_data(), Tolerance::absolute(2e-5));
}

#[test]
fn gelu_matches_burns_forward_and_gradient() {
    let x = random([3, 7, 40], 1);
    let y = gelu(x.clone());
    let want = burn::tensor::activation::gelu(x.clone());
    close(y.clone().inner(), want.clone().inner());
    let w = random([3, 7, 40], 2).detach();
    let g1 = (y * w.clone()).sum().backward();
    let g2 = (want * w).sum().backward();
    close(x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
}

#[test]
fn layer_norm_matches_burns_forward_and_gradients() {
    let d = 48;
    let mut norm = LayerNormConfig::new(d)
        .with_epsilon(1e-12)
        .init::<Fast>(&Default::default());
    norm.gamma = Param::from_tensor(random([d], 3));
    norm.beta = Some(Param::from_tensor(random([d], 4)));
    // 37 rows: not a multiple of the 16-row blocks.
    let x = random([37, d], 5);
    let y = layer_norm(&norm, 1e-12, x.clone());
    let want = norm.forward(x.clone());
    close(y.clone().inner(), want.clone().inner());
    let w = random([37, d], 6).detach();
    let g1 = (y * w.clone()).sum().backward();
    let g2 = (want * w).sum().backward();
    close(x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
    let gamma = norm.gamma.val();
    close(gamma.grad(&g1).unwrap(), gamma.grad(&g2).unwrap());
    let beta = norm.beta.as_ref().unwrap().val();
    close(beta.grad(&g1).unwrap(), beta.grad(&g2).unwrap());
}

#[test]
fn layer_norm_skips_frozen_parameters() {
    let d = 16;
    let norm = LayerNormConfig::new(d)
        .init::<Fast>(&Default::default())
        .no_grad();
    let x = random([4, d], 7);
    let grads = layer_norm(&norm, 1e-5, x.clone()).sum().backward();
    assert!(x.grad(&grads).is_some());
    assert!(norm.gamma.val().grad(&grads).is_none());
}

#[test]
fn linear_matches_burns_forward_and_gradients() {
    // The second size is past the threshold where the products use rayon's pool.
    for (rows, d_in, d_out) in [(37, 24, 40), (300, 160, 160)] {
        let x = random([rows, d_in], 20);
        let w = random([d_in, d_out], 21);
        let b = random([d_out], 22);
        let up = random([rows, d_out], 23).detach();
        for bias in [Some(b.clone()), None] {
            let y = linear(x.clone(), w.clone(), bias.clone());
            let want = burn::tensor::module::linear(x.clone(), w.clone(), bias.clone());
            let tol = Tolerance::rel_abs(1e-5, 1e-4);
            let check = |a: Tensor<Cpu, 2>, b: Tensor<Cpu, 2>| {
                a.into_data().assert_approx_eq::<f32>(&b.into_data(), tol)
            };
            check(y.clone().inner(), want.clone().inner());
            let g1 = (y * up.clone()).sum().backward();
            let g2 = (want * up.clone()).sum().backward();
            check(x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
            check(w.grad(&g1).unwrap(), w.grad(&g2).unwrap());
            if bias.is_some() {
                let (ours, want) = (b.grad(&g1).unwrap(), b.grad(&g2).unwrap());
                ours.into_data()
                    .assert_approx_eq::<f32>(&want.into_data(), tol);
            }
        }
    }
}

#[test]
fn linear_reads_a_transposed_weight_in_place() {
    // A tied LM head: the `[vocab, d]` table read as `[d, vocab]`.
    let x = random([40, 24], 33);
    let table = random([300, 24], 34);
    let up = random([40, 300], 35).detach();
    let y = linear(x.clone(), table.clone().transpose(), None);
    let want = burn::tensor::module::linear(x.clone(), table.clone().transpose(), None);
    let tol = Tolerance::rel_abs(1e-5, 1e-4);
    y.clone()
        .inner()
        .into_data()
        .assert_approx_eq::<f32>(&want.clone().inner().into_data(), tol);
    let g1 = (y * up.clone()).sum().backward();
    let g2 = (want * up).sum().backward();
    for t in [&x, &table] {
        let (a, b) = (t.grad(&g1).unwrap(), t.grad(&g2).unwrap());
        a.into_data().assert_approx_eq::<f32>(&b.into_data(), tol);
    }
}

#[test]
fn linear_skips_what_is_frozen() {
    let x = random([5, 8], 24);
    // burn's `detach` keeps `require_grad`; freezing is `set_require_grad(false)`.
    let w = random([8, 3], 25).set_require_grad(false);
    let b = random([3], 26).set_require_grad(false);
    let grads = linear(x.clone(), w.clone(), Some(b.clone()))
        .sum()
        .backward();
    assert!(x.grad(&grads).is_some());
    assert!(w.grad(&grads).is_none(), "weight");
    assert!(b.grad(&grads).is_none(), "bias");
    // Frozen input (LoRA's base path on a frozen embedding): only the weight's gradient.
    let x = random([5, 8], 27).set_require_grad(false);
    let w = random([8, 3], 28);
    let grads = linear(x.clone(), w.clone(), None).sum().backward();
    assert!(w.grad(&grads).is_some() && x.grad(&grads).is_none());
}

#[test]
fn dropout_add_draws_burns_mask_and_matches_its_gradients() {
    let device = Default::default();
    let drop = Dropout::new(0.3);
    let (x, r) = (random([5, 7, 33], 30), random([5, 7, 33], 31));
    let up = random([5, 7, 33], 32).detach();
    Fast::seed(&device, 5);
    let ours = dropout_add(&drop, x.clone(), r.clone());
    Fast::seed(&device, 5);
    let want = drop.forward(x.clone()) + r.clone();
    // The same mask, and x·m + r rounds as the composed ops do: equal, not merely close.
    assert_eq!(ours.clone().into_data(), want.clone().into_data());
    let g1 = (ours * up.clone()).sum().backward();
    let g2 = (want * up).sum().backward();
    for t in [&x, &r] {
        assert_eq!(
            t.grad(&g1).unwrap().into_data(),
            t.grad(&g2).unwrap().into_data()
        );
    }
}

#[test]
fn embedding_matches_burns_lookup_and_its_dense_gradient() {
    let device = Default::default();
    // 2500 rows: three backward blocks, the last one partial; ids repeat within and across rows.
    let mut table = burn::nn::EmbeddingConfig::new(2500, 24).init::<Fast>(&device);
    table.weight = Param::from_tensor(random([2500, 24], 40));
    let ids = [[3i64, 2499, 3, 1024], [0, 1023, 1024, 3]];
    let ids = Tensor::<Fast, 2, burn::tensor::Int>::from_data(ids, &device);
    let ours = embedding(&table, ids.clone());
    let want = table.forward(ids);
    assert_eq!(ours.clone().into_data(), want.clone().into_data());
    let up = random([2, 4, 24], 41).detach();
    let g1 = (ours * up.clone()).sum().backward();
    let g2 = (want * up).sum().backward();
    let w = table.weight.val();
    close(w.grad(&g1).unwrap(), w.grad(&g2).unwrap());
}

/// The composed attention the fused kernel replaces (the generic path of `self_attention`).
fn composed(q: T<3>, k: T<3>, v: T<3>, mask: T<4>, heads: usize, drop: &Dropout) -> T<3> {
    let [b, s, hd] = q.dims();
    let dh = hd / heads;
    let split = |t: T<3>| t.reshape([b, s, heads, dh]).swap_dims(1, 2);
    let scores = split(q)
        .matmul(split(k).swap_dims(2, 3))
        .div_scalar((dh as f64).sqrt())
        + mask;
    let probs = drop.forward(softmax(scores, 3));
    probs.matmul(split(v)).swap_dims(1, 2).reshape([b, s, hd])
}

#[test]
fn attention_matches_the_composed_ops_with_padding_and_dropout() {
    let (b, s, heads, dh) = (3, 9, 4, 20);
    let device = Default::default();
    let ids = TensorData::new(
        (0..b * s)
            .map(|i| i64::from(i % s < s - 2 * (i / s)))
            .collect::<Vec<_>>(),
        [b, s],
    );
    let mask = additive_mask::<Fast>(Tensor::from_data(ids, &device));
    for prob in [0.0, 0.3] {
        let (q, k, v) = (
            random([b, s, heads * dh], 8),
            random([b, s, heads * dh], 9),
            random([b, s, heads * dh], 10),
        );
        let drop = Dropout::new(prob);
        let w = random([b, s, heads * dh], 11).detach();
        Fast::seed(&device, 99);
        let ours = super::super::self_attention(
            q.clone(),
            k.clone(),
            v.clone(),
            mask.clone(),
            heads,
            &drop,
        );
        Fast::seed(&device, 99);
        let want = composed(q.clone(), k.clone(), v.clone(), mask.clone(), heads, &drop);
        close(ours.clone().inner(), want.clone().inner());
        let g1 = (ours * w.clone()).sum().backward();
        let g2 = (want * w).sum().backward();
        for t in [&q, &k, &v] {
            close(t.grad(&g1).unwrap(), t.grad(&g2).unwrap());
        }
    }
}

#[test]
fn kernels_repeat_bit_for_bit_at_one_and_two_threads() {
    let run = || {
        let x = random([16, 50, 96], 12);
        let mut norm = LayerNormConfig::new(96).init::<Fast>(&Default::default());
        norm.gamma = Param::from_tensor(random([96], 13));
        let w = random([96, 300], 14);
        let h = linear(x.clone().reshape([800, 96]), w, Some(random([300], 15)));
        let y = layer_norm(&norm, 1e-12, gelu(h));
        let grads = y.clone().powf_scalar(2.0).sum().backward();
        (y.inner().into_data(), x.grad(&grads).unwrap().into_data())
    };
    let on = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(run)
    };
    let one = on(1);
    assert_eq!(one, on(2));
    assert_eq!(one, on(2));
}
