//! `cpu_list` refuses CPU ids above `CPU_ID_MAX` before it builds anything: a range like
//! `0-99999999999` (from a corrupt file, or a typo in `mqperf --cpus`) costs no allocation,
//! however large its end. Counted with this test binary's own allocator, per thread, so other
//! tests running meanwhile do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use shardmq_tuning::parse::{cpu_list, CPU_ID_MAX};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
// const-initialised thread-local without a destructor, so touching it never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// What `f` returns and how many allocations this thread made while it ran.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let value = f();
    (value, ALLOCATIONS.with(Cell::get) - before)
}

#[test]
fn ranges_past_cpu_id_max_are_refused_without_allocating() {
    let just_past = format!("0-{}", CPU_ID_MAX + 1);
    for text in [
        "0-99999999999",
        "0-18446744073709551616",
        "0-4294967295",
        just_past.as_str(),
    ] {
        let (parsed, allocated) = allocations(|| cpu_list(text));
        assert_eq!(parsed, None, "{text}");
        assert_eq!(allocated, 0, "{text}: {allocated} allocations");
    }
}

#[test]
fn the_counter_sees_the_allocations_of_an_accepted_list() {
    // The other test means something only if this counter counts `cpu_list`'s own work.
    let (parsed, allocated) = allocations(|| cpu_list("0-7"));
    assert_eq!(parsed.map(|cpus| cpus.len()), Some(8));
    assert!(allocated > 0);
}
