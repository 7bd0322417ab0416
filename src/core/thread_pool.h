// A persistent pool of worker threads. Work is split into contiguous ranges,
// one per thread, in a fixed way that depends only on (n, threads): callers
// that split by output rows therefore compute each output in one thread, in
// one order, and results do not depend on the thread count.
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

  // fn(begin, end, thread_index) over [0, n) split into size() ranges whose
  // boundaries are multiples of `grain` (except the last). Blocks until done.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain = 1);

  // fn(thread_index) on every thread.
  void run_on_all(const std::function<void(int)>& fn);

 private:
  void worker(int index);
  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// Number of physical cores (SMT siblings counted once); >= 1.
int physical_cores();

}  // namespace nb
