//! Un-sampling: from the counts a dump writes to estimates of what was really live.
//!
//! jemalloc samples allocations as a Poisson process over bytes with mean interval `P` (the
//! `heap_v2/P` header): an allocation of `s` bytes is sampled with probability
//! `1 − exp(−s/P)`. jeprof's `AdjustSamples` undoes this per stack, before anything is
//! summed:
//!
//! ```text
//! ratio = (bytes / objs) / P;  scale = 1 / (1 − exp(−ratio));  objs *= scale;  bytes *= scale
//! ```
//!
//! jemalloc 5.3 writes deliberately distorted per-stack counts (`prof_do_unbias`) so that this
//! very formula recovers its internal unbiased estimate; that is also why the header totals
//! are not the sum of the stacks. Applying the formula per stack is therefore the only right
//! order; summing first and scaling after gives a different (wrong) number.
//!
//! **Rounding.** The scaled values are rounded to the nearest integer (half away from zero)
//! once, per stack, right here. Everything downstream adds integers, so sums are exact and do
//! not depend on the order stacks are visited, a stack's delta is exactly `after − before`,
//! and per-function rows add up to the stacks they come from. The rounding error is at most
//! half a byte per stack. Unsampled dumps (period 0 or 1) are never scaled, so their numbers
//! are exactly the dump's.

use super::MAX_COUNT;

/// How a dump's counts were sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Every allocation was recorded (`lg_prof_sample:0`, period 1; or a heap-profiler dump):
    /// counts are exact.
    Unsampled,
    /// jemalloc / tcmalloc v2 sampling: Poisson over bytes with this mean interval.
    Poisson { period: u64 },
    /// Old tcmalloc ("remote heap version 1") sampling with this mean interval: jeprof scales
    /// by `1/ratio` when `ratio = (bytes/objs)/mean < 1`.
    Uniform { mean: u64 },
}

/// A stack's estimated live objects and bytes after un-sampling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsampled {
    pub objects: u64,
    pub bytes: u64,
}

/// The factor jeprof multiplies a stack's counts by (1.0 when nothing is scaled).
///
/// Stacks with no objects or no bytes are not scaled: jeprof skips `objs == 0`, and
/// `bytes == 0` (zero-size allocations) would divide by zero.
pub fn scale_factor(objs: u64, bytes: u64, sampling: Sampling) -> f64 {
    if objs == 0 || bytes == 0 {
        return 1.0;
    }
    let mean_size = bytes as f64 / objs as f64;
    match sampling {
        Sampling::Unsampled => 1.0,
        Sampling::Poisson { period } if period <= 1 => 1.0,
        Sampling::Poisson { period } => {
            let ratio = mean_size / period as f64;
            // 1 − exp(−ratio), computed without cancellation for tiny ratios.
            1.0 / -(-ratio).exp_m1()
        }
        Sampling::Uniform { mean } => {
            let ratio = mean_size / mean.max(1) as f64;
            if ratio < 1.0 {
                1.0 / ratio
            } else {
                1.0
            }
        }
    }
}

/// Un-sample one stack's `t*` counts (`curobjs`, `curbytes`): scale, then round each value to
/// the nearest integer. Results are capped at [`MAX_COUNT`] so sums of many stacks cannot
/// overflow.
pub fn unsample(objs: u64, bytes: u64, sampling: Sampling) -> Unsampled {
    let scale = scale_factor(objs, bytes, sampling);
    if scale == 1.0 {
        return Unsampled {
            objects: objs,
            bytes,
        };
    }
    let round = |v: u64| {
        let x = (v as f64 * scale).round();
        if x.is_finite() && x < MAX_COUNT as f64 {
            x as u64
        } else {
            MAX_COUNT
        }
    };
    Unsampled {
        objects: round(objs),
        bytes: round(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Sampling = Sampling::Poisson { period: 524288 };

    #[test]
    fn hand_computed_poisson() {
        // One sampled 112-byte object at P = 2^19: ratio = 112/524288 = 2.13623e-4,
        // 1 − e^−ratio = 2.13600e-4, scale = 4681.6429 → 4682 objects, 524344.002 → 524344 B.
        let u = unsample(1, 112, P);
        assert_eq!(u.objects, 4682);
        assert_eq!(u.bytes, 524_344);
        // 10 objects of 1 MiB: ratio 2, scale 1/(1 − e^−2) = 1.1565176 → 11.565 → 12 objects,
        // 10485760 × 1.1565176 = 12126966.44 → 12126966 bytes.
        let u = unsample(10, 10 << 20, P);
        assert_eq!(u.objects, 12);
        assert_eq!(u.bytes, 12_126_966);
        // Huge objects are (almost) always sampled: scale → 1.
        let u = unsample(3, 3 << 30, P);
        assert_eq!(
            u,
            Unsampled {
                objects: 3,
                bytes: 3 << 30
            }
        );
    }

    #[test]
    fn period_one_and_unsampled_do_not_scale() {
        for s in [
            Sampling::Unsampled,
            Sampling::Poisson { period: 1 },
            Sampling::Poisson { period: 0 },
        ] {
            assert_eq!(
                unsample(7, 784, s),
                Unsampled {
                    objects: 7,
                    bytes: 784
                }
            );
        }
    }

    #[test]
    fn degenerate_counts_are_left_alone() {
        assert_eq!(
            unsample(0, 100, P),
            Unsampled {
                objects: 0,
                bytes: 100
            }
        );
        assert_eq!(
            unsample(5, 0, P),
            Unsampled {
                objects: 5,
                bytes: 0
            }
        );
    }

    #[test]
    fn uniform_follows_jeprof_v1() {
        let s = Sampling::Uniform { mean: 1000 };
        // mean size 100 < 1000: ratio 0.1 → ×10.
        assert_eq!(
            unsample(2, 200, s),
            Unsampled {
                objects: 20,
                bytes: 2000
            }
        );
        // mean size ≥ mean: unchanged.
        assert_eq!(
            unsample(1, 5000, s),
            Unsampled {
                objects: 1,
                bytes: 5000
            }
        );
    }

    #[test]
    fn absurd_scales_are_capped() {
        let u = unsample(MAX_COUNT, MAX_COUNT, Sampling::Poisson { period: 1 << 40 });
        assert!(u.bytes <= MAX_COUNT && u.objects <= MAX_COUNT);
    }
}
