//! Choosing the next token from its logits: greedy (the argmax), or sampling as `transformers`
//! does it, in its order: logits divided by the temperature, then the `top_k` most likely kept,
//! then the smallest set whose probability reaches `top_p` (the nucleus), then one drawn from
//! what is left, renormalised, with a seeded generator.

use super::Decoding;
use crate::model::init::SeededRng;

/// Temperatures below this sample as greedy: dividing by them would overflow, and the
/// distribution they give is the argmax anyway.
pub const MIN_TEMPERATURE: f32 = 1e-5;

/// The next token for `logits` (non-empty) under `decoding`.
pub fn next_token(logits: &[f32], decoding: &Decoding, rng: &mut SeededRng) -> u32 {
    match *decoding {
        Decoding::Greedy => argmax(logits),
        Decoding::Sample { temperature, .. } if temperature < MIN_TEMPERATURE => argmax(logits),
        Decoding::Sample {
            temperature,
            top_p,
            top_k,
        } => {
            let kept = nucleus(logits, temperature, top_p, top_k);
            draw(&kept, rng.next_f64())
        }
    }
}

/// The first index of the largest logit (NaN never wins).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// The tokens sampling may pick and their probabilities (summing to 1), most likely first:
/// softmax of `logits / temperature`, cut to `top_k`, then to the nucleus of `top_p`.
pub fn nucleus(
    logits: &[f32],
    temperature: f32,
    top_p: f32,
    top_k: Option<usize>,
) -> Vec<(u32, f64)> {
    let t = f64::from(temperature);
    let mut scored: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .filter(|(_, x)| !x.is_nan())
        .map(|(i, &x)| (i as u32, f64::from(x) / t))
        .collect();
    // Stable: equal logits keep index order, so a seed always gives the same token.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    if let Some(k) = top_k.filter(|&k| k > 0) {
        scored.truncate(k);
    }
    let max = scored.first().map_or(0.0, |s| s.1);
    let mut total = 0.0;
    for s in &mut scored {
        s.1 = (s.1 - max).exp();
        total += s.1;
    }
    let mut cum = 0.0;
    let mut keep = scored.len();
    for (i, s) in scored.iter_mut().enumerate() {
        s.1 /= total;
        cum += s.1;
        if cum >= f64::from(top_p) {
            keep = i + 1;
            break;
        }
    }
    scored.truncate(keep.max(1));
    let kept: f64 = scored.iter().map(|s| s.1).sum();
    for s in &mut scored {
        s.1 /= kept;
    }
    scored
}

/// The token whose cumulative probability first passes `u` (in [0, 1)).
fn draw(kept: &[(u32, f64)], u: f64) -> u32 {
    let mut cum = 0.0;
    for &(id, p) in kept {
        cum += p;
        if u < cum {
            return id;
        }
    }
    kept.last().map_or(0, |k| k.0) // rounding left `cum` a hair under 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGITS: [f32; 6] = [0.5, 3.0, -1.0, 2.5, 2.9, -4.0];

    fn sample(temperature: f32, top_p: f32, top_k: Option<usize>) -> Decoding {
        Decoding::Sample {
            temperature,
            top_p,
            top_k,
        }
    }

    #[test]
    fn greedy_picks_the_argmax() {
        let mut rng = SeededRng::new(0, 0);
        assert_eq!(next_token(&LOGITS, &Decoding::Greedy, &mut rng), 1);
        assert_eq!(argmax(&[f32::NAN, 1.0, 0.0]), 1);
        assert_eq!(argmax(&[2.0, 2.0]), 0);
    }

    #[test]
    fn a_temperature_near_zero_is_greedy() {
        for seed in 0..200 {
            let mut rng = SeededRng::new(seed, 1);
            for t in [0.0, 1e-6, 1e-3] {
                assert_eq!(
                    next_token(&LOGITS, &sample(t, 1.0, None), &mut rng),
                    1,
                    "t={t}"
                );
            }
        }
    }

    #[test]
    fn the_nucleus_is_the_smallest_set_reaching_top_p() {
        let probs: Vec<f64> = {
            let e: Vec<f64> = LOGITS.iter().map(|&x| f64::from(x).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|x| x / s).collect()
        };
        // Most likely first: 1, 4, 3, 0, 2, 5.
        let p3 = probs[1] + probs[4] + probs[3];
        let kept = nucleus(&LOGITS, 1.0, (p3 - 1e-6) as f32, None);
        assert_eq!(kept.iter().map(|k| k.0).collect::<Vec<_>>(), [1, 4, 3]);
        let sum: f64 = kept.iter().map(|k| k.1).sum();
        assert!((sum - 1.0).abs() < 1e-12);
        assert!((kept[0].1 - probs[1] / p3).abs() < 1e-6);
        // top_k cuts first; a tiny top_p keeps one token.
        assert_eq!(nucleus(&LOGITS, 1.0, 1.0, Some(2)).len(), 2);
        assert_eq!(nucleus(&LOGITS, 1.0, 1e-9, None).len(), 1);
    }

    #[test]
    fn sampling_never_leaves_the_nucleus_and_reaches_all_of_it() {
        let mut rng = SeededRng::new(42, 0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let id = next_token(&LOGITS, &sample(1.0, 0.9, None), &mut rng);
            seen.insert(id);
        }
        let allowed: Vec<u32> = nucleus(&LOGITS, 1.0, 0.9, None)
            .iter()
            .map(|k| k.0)
            .collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), {
            let mut a = allowed.clone();
            a.sort();
            a
        });
        assert!(!allowed.contains(&5) && !allowed.contains(&2));
    }

    #[test]
    fn top_k_one_is_greedy_at_any_temperature() {
        let mut rng = SeededRng::new(9, 0);
        for _ in 0..100 {
            assert_eq!(next_token(&LOGITS, &sample(5.0, 1.0, Some(1)), &mut rng), 1);
        }
    }
}
