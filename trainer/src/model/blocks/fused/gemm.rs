//! Matrix products on slices through the `gemm` crate (the kernels flex's own matmul calls), with
//! strides, so a head's columns, a transpose or a whole `[rows, d]` slab is read in place.

/// A strided matrix inside a slice: element `(r, c)` at `offset + r·rs + c·cs`.
#[derive(Debug, Clone, Copy)]
pub(super) struct View {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl View {
    /// A contiguous row-major `[rows, cols]` matrix at the start of its slice.
    pub fn dense(rows: usize, cols: usize) -> View {
        View {
            offset: 0,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose: the same elements, rows and columns swapped.
    pub fn t(self) -> View {
        View {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// One past the last element the view reaches.
    fn end(&self) -> usize {
        self.offset + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
    }
}

/// Below this many multiply-adds a product runs on one thread, as flex decides (192³).
const PARALLEL_FROM: usize = 192 * 192 * 192;

/// Who runs a product: the calling thread (already one of rayon's tasks), or rayon's pool when
/// the product is large enough to pay for the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Threads {
    One,
    Pool,
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` with `accumulate`.
///
/// The result does not depend on the thread count: `gemm` splits the output into tiles and
/// sums each tile's inner dimension on one thread, in order.
pub(super) fn matmul(
    dst: &mut [f32],
    d: View,
    (lhs, l): (&[f32], View),
    (rhs, r): (&[f32], View),
    accumulate: bool,
    threads: Threads,
) {
    assert!(d.rows == l.rows && d.cols == r.cols && l.cols == r.rows);
    if d.rows == 0 || d.cols == 0 {
        return;
    }
    if l.cols == 0 {
        // An empty inner dimension: the product is zero.
        if !accumulate {
            for r in 0..d.rows {
                for c in 0..d.cols {
                    dst[d.offset + r * d.rs + c * d.cs] = 0.0;
                }
            }
        }
        return;
    }
    assert!(d.end() <= dst.len() && l.end() <= lhs.len() && r.end() <= rhs.len());
    let parallelism = match threads {
        Threads::Pool if d.rows * d.cols * l.cols >= PARALLEL_FROM => gemm::Parallelism::Rayon(0),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: the asserts keep every element gemm reads or writes inside its slice, and `dst`,
    // borrowed mutably, aliases neither input.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.as_mut_ptr().add(d.offset),
            d.cs as isize,
            d.rs as isize,
            accumulate,
            lhs.as_ptr().add(l.offset),
            l.cs as isize,
            l.rs as isize,
            rhs.as_ptr().add(r.offset),
            r.cs as isize,
            r.rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}
