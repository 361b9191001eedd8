// Counting replacements of the global allocation functions for the whole
// mpi_tests binary; they only count, so other tests are unaffected. Kept in
// their own file so the compiler cannot inline them into the callers (GCC
// then warns about malloc/free pairs it cannot match).
#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> g_allocations{0};
}

namespace lockstep {
// Calls of operator new (and new[]) so far.
long test_allocation_count() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace lockstep

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n > 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
