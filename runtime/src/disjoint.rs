//! Parallel writes to disjoint elements of one slice: the one audited
//! way Loam's kernels share a buffer between the tasks of a checkerboard
//! phase or a constraint colour.

use std::marker::PhantomData;

/// A mutably borrowed slice whose elements tasks write in parallel, each
/// task its own elements: the cells of one checkerboard phase's pages, the
/// particles of one colour's constraints.
///
/// Copying it is free and safe; reaching an element is `unsafe`, because
/// the borrow checker cannot see the schedule that keeps tasks apart. The
/// caller of [`Disjoint::ptr`] promises that schedule.
pub struct Disjoint<'a, T> {
    start: *mut T,
    len: usize,
    borrow: PhantomData<&'a mut [T]>,
}

impl<T> Clone for Disjoint<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Disjoint<'_, T> {}

// SAFETY: a `Disjoint` is a `&mut [T]` handed to several tasks; moving it to
// another thread moves access to `T`s, which `T: Send` allows. Every access
// goes through `ptr`, whose callers promise that no element is used by two
// tasks at once.
unsafe impl<T: Send> Send for Disjoint<'_, T> {}
// SAFETY: as for `Send`: shared between tasks, each element is still used
// by at most one task at a time (the contract of `ptr`).
unsafe impl<T: Send> Sync for Disjoint<'_, T> {}

impl<'a, T> Disjoint<'a, T> {
    /// Shares `slice` for disjoint writes for as long as it is borrowed.
    pub fn new(slice: &'a mut [T]) -> Self {
        Self {
            start: slice.as_mut_ptr(),
            len: slice.len(),
            borrow: PhantomData,
        }
    }

    /// Elements in the slice.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slice is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A pointer to element `i` (checked against the length in debug
    /// builds).
    ///
    /// # Safety
    /// `i < self.len()`, and while the pointer is used no other task reads
    /// or writes element `i` (for a read, no other task writes it).
    #[inline(always)]
    pub unsafe fn ptr(&self, i: usize) -> *mut T {
        debug_assert!(i < self.len, "element {i} of {}", self.len);
        // SAFETY: `i` is in bounds of the borrowed slice (the contract).
        unsafe { self.start.add(i) }
    }
}

impl<T> std::fmt::Debug for Disjoint<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Disjoint<{}>({})", std::any::type_name::<T>(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::Disjoint;
    use rayon::prelude::*;

    #[test]
    fn tasks_write_their_own_elements() {
        let mut v = vec![0u32; 1000];
        let d = Disjoint::new(&mut v);
        (0..1000usize).into_par_iter().for_each(|i| {
            // SAFETY: each task writes only element `i`, which is in bounds.
            unsafe { *d.ptr(i) = i as u32 * 2 };
        });
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32 * 2));
    }
}
