// A persistent pool of worker threads. parallel_for cuts [0, n) into chunks
// whose boundaries depend only on (n, grain, threads); the threads, the
// caller included, claim chunks one at a time until none are left. Each index
// is therefore handled by exactly one call, on one thread: callers that split
// by output rows compute each output in one thread, in one order, and results
// do not depend on the thread count or on which thread ran which chunk.
//
// Claiming (rather than a fixed range per thread) matters on a busy machine:
// a worker that is descheduled or still waking up simply claims nothing, and
// the caller does its share instead of waiting a whole scheduler time slice.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace nb {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads >= 1; the caller is thread 0
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(begin, end, thread_index) over [0, n), called once per chunk; chunk
  // boundaries are multiples of `grain` (except at n). thread_index is the
  // thread running the call (0 = the caller), so per-thread scratch indexed by
  // it is never shared by two concurrent calls. Blocks until done.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain = 1);

  // fn(thread_index) on every thread.
  void run_on_all(const std::function<void(int)>& fn);

 private:
  void worker(int index);
  void wake_workers();
  bool run_one_chunk(int thread);  // false when no chunk is left to claim
  template <class Done>
  void wait_until(Done done);

  int n_threads_;
  std::vector<std::thread> workers_;
  // run_on_all: the job and the generation it was posted at.
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint32_t> job_generation_{0};
  std::atomic<int> pending_{0};
  // parallel_for: written by the caller before the chunks are published in claim_.
  const std::function<void(int64_t, int64_t, int)>* range_fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1, units_ = 0;
  std::atomic<uint64_t> claim_{0};  // (chunks << 32) | next chunk to claim
  std::atomic<int64_t> done_{0};    // chunks finished
  // Wake-ups: workers spin on generation_, then sleep on it.
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

// Number of physical cores (SMT siblings counted once); >= 1.
int physical_cores();

}  // namespace nb
