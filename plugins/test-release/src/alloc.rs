//! The component's allocator: small blocks from free lists, everything else from [`System`].
//!
//! Parsing the payload's manifests (serde_yaml and its libyaml port) makes about 290 heap
//! allocations per document, nearly all of them 32 bytes or less (tokens, scalar buffers,
//! events, the strings and maps of the parsed value), freed soon after: 2.3 million at 10x the
//! sample payload. [`SmallBlocks`] serves every block of up to [`SMALL_MAX`] bytes from a free
//! list per size class (16 to 256 bytes in steps of 16, then 512, 1024, 2048 and 4096), refilled
//! from 64 KiB slabs that it takes from [`System`] and never gives back; a freed block goes back
//! on its list. Allocating or freeing
//! one is a few instructions, against a pass through wasi-libc's `malloc`. Blocks larger than
//! that, or aligned to more than 16 bytes, go to [`System`] as before.
//!
//! What it costs is memory: a size class keeps as many blocks as it had in use at once, so the
//! small-block part of the heap never shrinks (the stage is one short call, and its store is
//! dropped after it). It changes no result: only where the bytes live.
//!
//! It is the component's global allocator on single-threaded WebAssembly (a plain
//! `wasm32-wasip2` build has no threads), and the global allocator of the native unit tests,
//! behind a lock (the test harness runs tests on several threads): every check's tests run on
//! it, so a block handed out twice would show as a changed finding.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Size classes up to [`FINE_MAX`] are multiples of this, and every small block is aligned to it.
const GRANULE: usize = 16;
/// The size classes 16, 32, …, 256 bytes, one per multiple of [`GRANULE`]...
const FINE_MAX: usize = 256;
/// ...then 512, 1024, 2048 and 4096 bytes.
const CLASSES: usize = FINE_MAX / GRANULE + 4;
/// The largest block served from the free lists.
pub const SMALL_MAX: usize = 4096;
/// The size of the slabs small blocks are cut from.
const SLAB: usize = 64 * 1024;

/// The free lists and the slab being cut.
struct Pools {
    /// The first free block of each size class; a free block holds the next one's address.
    free: [*mut u8; CLASSES],
    /// Where the next block is cut from the current slab.
    next: *mut u8,
    /// The end of the current slab.
    end: *mut u8,
}

/// An allocator serving small blocks from free lists (see the module documentation).
pub struct SmallBlocks {
    pools: UnsafeCell<Pools>,
}

impl SmallBlocks {
    /// An allocator that has not taken any memory yet.
    pub const fn new() -> Self {
        Self {
            pools: UnsafeCell::new(Pools {
                free: [ptr::null_mut(); CLASSES],
                next: ptr::null_mut(),
                end: ptr::null_mut(),
            }),
        }
    }
}

impl Default for SmallBlocks {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class of a layout (0 for 1 to 16 bytes), if it is small.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size > SMALL_MAX || layout.align() > GRANULE {
        None
    } else if size <= FINE_MAX {
        Some(size.max(1).div_ceil(GRANULE) - 1)
    } else {
        // 257..=512 bytes is the first class after the fine ones.
        Some(
            FINE_MAX / GRANULE - 1
                + (size.next_power_of_two() / FINE_MAX).trailing_zeros() as usize,
        )
    }
}

/// The size of the blocks of a class.
fn block_size(class: usize) -> usize {
    let fine = FINE_MAX / GRANULE;
    if class < fine {
        (class + 1) * GRANULE
    } else {
        FINE_MAX << (class + 1 - fine)
    }
}

// SAFETY: every block handed out is either [`System`]'s (for layouts without a size class, and
// given back to it with the same layout, as the class of a layout never changes) or a distinct
// `block_size(class)`-byte piece of a slab, aligned to `GRANULE` (slabs are, and block sizes are
// multiples of it), at least as large as its layout, and not handed out again before it is
// freed. The pools are only touched through `&self` by one thread at a time: the component's
// global instance exists only on single-threaded WebAssembly, the unit tests' global instance is
// behind a lock, and the other tests use instances of their own.
unsafe impl GlobalAlloc for SmallBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            // SAFETY: the caller's layout, passed on.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: no other reference to the pools is alive (see above).
        let pools = unsafe { &mut *self.pools.get() };
        let head = pools.free[class];
        if !head.is_null() {
            // SAFETY: a free block holds the address of the next one.
            pools.free[class] = unsafe { head.cast::<*mut u8>().read() };
            return head;
        }
        let size = block_size(class);
        if (pools.end as usize) - (pools.next as usize) < size {
            // SAFETY: a valid, non-zero layout. What was left of the previous slab (less than
            // one block) is not used.
            let slab = unsafe { System.alloc(Layout::from_size_align_unchecked(SLAB, GRANULE)) };
            if slab.is_null() {
                return slab;
            }
            pools.next = slab;
            // SAFETY: the slab is `SLAB` bytes long.
            pools.end = unsafe { slab.add(SLAB) };
        }
        let block = pools.next;
        // SAFETY: at least `size` bytes of the slab are left after `block`.
        pools.next = unsafe { block.add(size) };
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class(layout).is_none() {
            // SAFETY: the caller's layout, passed on.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: the caller's layout; the block is at least `layout.size()` bytes long.
        unsafe {
            let block = self.alloc(layout);
            if !block.is_null() {
                ptr::write_bytes(block, 0, layout.size());
            }
            block
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            // SAFETY: a block of this layout came from `System`.
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: no other reference to the pools is alive; the block is at least 16 bytes
        // long and aligned, and the caller gives it up.
        unsafe {
            let pools = &mut *self.pools.get();
            block.cast::<*mut u8>().write(pools.free[class]);
            pools.free[class] = block;
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller promises `new_size`, rounded up to the alignment, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            // SAFETY: a block of this layout came from `System`, and the new one stays there.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            // The block is already large enough.
            (Some(old), Some(new)) if old == new => block,
            // SAFETY: a new block, the contents copied, the old block freed.
            _ => unsafe {
                let moved = self.alloc(new_layout);
                if !moved.is_null() {
                    ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                    self.dealloc(block, layout);
                }
                moved
            },
        }
    }
}

/// The global instance, on single-threaded WebAssembly.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
mod global {
    use super::SmallBlocks;

    /// Holds the allocator for the `#[global_allocator]` static.
    struct Global(SmallBlocks);

    // SAFETY: without the `atomics` target feature a WebAssembly module runs on one thread.
    unsafe impl Sync for Global {}

    // SAFETY: forwards every call to the one instance. Not inlined: inlined into every caller
    // the allocator made the component 92 KiB larger (16 KiB as it is), and no faster.
    unsafe impl std::alloc::GlobalAlloc for Global {
        #[inline(never)]
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            // SAFETY: forwarded.
            unsafe { self.0.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
            // SAFETY: forwarded.
            unsafe { self.0.alloc_zeroed(layout) }
        }
        #[inline(never)]
        unsafe fn dealloc(&self, block: *mut u8, layout: std::alloc::Layout) {
            // SAFETY: forwarded.
            unsafe { self.0.dealloc(block, layout) }
        }
        #[inline(never)]
        unsafe fn realloc(
            &self,
            block: *mut u8,
            layout: std::alloc::Layout,
            new_size: usize,
        ) -> *mut u8 {
            // SAFETY: forwarded.
            unsafe { self.0.realloc(block, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Global = Global(SmallBlocks::new());
}

/// The unit tests' global instance, behind a lock.
#[cfg(all(test, not(target_family = "wasm")))]
mod tests_global {
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use super::SmallBlocks;

    /// The allocator and the lock that guards it (a futex: locking allocates nothing).
    struct Locked {
        lock: Mutex<()>,
        heap: SmallBlocks,
    }

    impl Locked {
        fn lock(&self) -> MutexGuard<'_, ()> {
            self.lock.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    // SAFETY: the allocator is only used while the lock is held.
    unsafe impl Sync for Locked {}

    // SAFETY: forwards every call to the one instance, under the lock.
    unsafe impl GlobalAlloc for Locked {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _held = self.lock();
            // SAFETY: forwarded.
            unsafe { self.heap.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let _held = self.lock();
            // SAFETY: forwarded.
            unsafe { self.heap.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
            let _held = self.lock();
            // SAFETY: forwarded.
            unsafe { self.heap.dealloc(block, layout) }
        }
        unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _held = self.lock();
            // SAFETY: forwarded.
            unsafe { self.heap.realloc(block, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Locked = Locked {
        lock: Mutex::new(()),
        heap: SmallBlocks::new(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn size_classes() {
        assert_eq!(class(layout(0, 1)), Some(0));
        assert_eq!(class(layout(1, 1)), Some(0));
        assert_eq!(class(layout(16, 8)), Some(0));
        assert_eq!(class(layout(17, 4)), Some(1));
        assert_eq!(class(layout(256, 16)), Some(15));
        assert_eq!(class(layout(257, 16)), Some(16));
        assert_eq!(class(layout(512, 16)), Some(16));
        assert_eq!(class(layout(513, 16)), Some(17));
        assert_eq!(class(layout(SMALL_MAX, 16)), Some(CLASSES - 1));
        for size in 1..=SMALL_MAX {
            let c = class(layout(size, 1)).unwrap();
            assert!(block_size(c) >= size, "{size}");
            assert!(c == 0 || block_size(c - 1) < size, "{size}");
        }
        assert_eq!(class(layout(SMALL_MAX + 1, 1)), None);
        assert_eq!(class(layout(8, 32)), None);
    }

    #[test]
    fn blocks_are_distinct_aligned_and_reused_after_free() {
        let heap = SmallBlocks::new();
        unsafe {
            let l = layout(24, 8);
            let blocks: Vec<*mut u8> = (0..10_000).map(|_| heap.alloc(l)).collect();
            for (i, &b) in blocks.iter().enumerate() {
                assert!(!b.is_null());
                assert_eq!(b as usize % GRANULE, 0);
                ptr::write_bytes(b, i as u8, 24);
            }
            // No two blocks overlap: each still holds its own bytes.
            for (i, &b) in blocks.iter().enumerate() {
                assert!(
                    std::slice::from_raw_parts(b, 24)
                        .iter()
                        .all(|&x| x == i as u8)
                );
            }
            let freed = blocks[1234];
            heap.dealloc(freed, l);
            // The same class gets the freed block back; another class does not.
            let other = heap.alloc(layout(40, 8));
            assert_ne!(other, freed);
            assert_eq!(heap.alloc(layout(20, 4)), freed);
            let zeroed = heap.alloc_zeroed(layout(32, 1));
            assert!(
                std::slice::from_raw_parts(zeroed, 32)
                    .iter()
                    .all(|&x| x == 0)
            );
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes_and_to_the_system() {
        let heap = SmallBlocks::new();
        unsafe {
            let mut l = layout(5, 1);
            let mut b = heap.alloc(l);
            ptr::copy_nonoverlapping(b"hello".as_ptr(), b, 5);
            // Within a class the block stays where it is.
            assert_eq!(heap.realloc(b, l, 16), b);
            for size in [17, 100, SMALL_MAX, SMALL_MAX + 1, 10_000, 200, 3] {
                b = heap.realloc(b, l, size);
                l = layout(size, 1);
                assert_eq!(std::slice::from_raw_parts(b, 3), b"hel");
            }
            heap.dealloc(b, l);
            // Large and over-aligned blocks come from the system allocator and go back to it.
            let big = heap.alloc(layout(SMALL_MAX + 1, 8));
            let aligned = heap.alloc(layout(8, 64));
            assert_eq!(aligned as usize % 64, 0);
            heap.dealloc(big, layout(SMALL_MAX + 1, 8));
            heap.dealloc(aligned, layout(8, 64));
        }
    }
}
