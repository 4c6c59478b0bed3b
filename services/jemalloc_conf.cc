// jemalloc's settings for the binaries that link it (perfledgerd, the rebuild bench). jemalloc
// reads this symbol at start-up; MALLOC_CONF in the environment still overrides it.
//
// background_thread: jemalloc returns unused pages to the kernel (madvise) from a thread of its
// own instead of from whichever thread happens to free or allocate. On this VM every such
// madvise is a TLB shoot-down: an interrupt to the other core, which runs our other fold or
// handler thread. A rebuild did ~17,000 of them; with the background thread ~3,400, and the
// rebuild's CPU fell from 6.2-6.6 to 4.8-5.6 s per 1M events (interleaved runs of
// tests/views/perfledger_rebuild_bench). tests/e2e/allocator_test.cc checks that perfledgerd
// runs with it.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's.
const char* malloc_conf = "background_thread:true";
}
