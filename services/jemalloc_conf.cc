// jemalloc's settings for the binaries that link it (perfledgerd, the rebuild bench). jemalloc
// reads this symbol at start-up; MALLOC_CONF in the environment still overrides it.
//
// background_thread: jemalloc returns unused pages to the kernel (madvise) from a thread of its
// own instead of from whichever thread happens to free or allocate. Every such madvise is a TLB
// shoot-down, an interrupt to the other cores, which run the other fold and handler threads;
// batched on one thread there are far fewer of them (compare with
// tests/views/perfledger_rebuild_bench and MALLOC_CONF). tests/e2e/allocator_test.cc checks that
// perfledgerd runs with it.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's.
const char* malloc_conf = "background_thread:true";
}
