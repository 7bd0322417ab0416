#include "core/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__)
#include <immintrin.h>
#define NB_PAUSE() _mm_pause()
#else
#define NB_PAUSE() ((void)0)
#endif

namespace nb {
namespace {

// Chunks per thread of a parallel_for: enough that a thread that starts late
// or is preempted leaves little behind, few enough that claiming (one atomic
// each) stays cheap next to a chunk of real work.
constexpr int64_t kChunksPerThread = 8;
// Waiting: spin this many pause rounds (decode posts thousands of jobs a
// second; a futex wake per job would dominate), then yield the CPU (on a busy
// machine the thread we wait for may need it), then sleep (workers only).
constexpr int kSpinRounds = 4000;
constexpr int kYieldRounds = 200;

}  // namespace

ThreadPool::ThreadPool(int threads) : n_threads_(threads < 1 ? 1 : threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  wake_workers();
  for (auto& t : workers_) t.join();
}

void ThreadPool::wake_workers() {
  // seq_cst pairs with the sleeper's increment-then-recheck: either we see
  // the sleeper, or it sees the new generation and does not sleep.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
}

template <class Done>
void ThreadPool::wait_until(Done done) {
  for (int i = 0; i < kSpinRounds; ++i) {
    if (done()) return;
    NB_PAUSE();
  }
  while (!done()) sched_yield();
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; g == seen && i < kSpinRounds; ++i) {
      NB_PAUSE();
      g = generation_.load(std::memory_order_acquire);
    }
    for (int i = 0; g == seen && i < kYieldRounds; ++i) {
      sched_yield();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      if (generation_.load(std::memory_order_seq_cst) == seen) generation_.wait(seen, std::memory_order_acquire);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    // A run_on_all job cannot be missed: its caller waits for every worker
    // before posting anything else, so the generation stays at its value.
    if (job_generation_.load(std::memory_order_acquire) == g) {
      (*job_)(index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
      continue;
    }
    // Otherwise help with whatever parallel_for is open (possibly a later one
    // than the generation we saw; claiming is safe for any of them).
    while (run_one_chunk(index)) {
    }
  }
}

bool ThreadPool::run_one_chunk(int thread) {
  uint64_t w = claim_.load(std::memory_order_acquire);
  uint64_t next;
  for (;;) {
    next = w & 0xFFFFFFFFu;
    if (next >= (w >> 32)) return false;
    if (claim_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) break;
  }
  // The claim synchronized with the caller's publication of this job, and the
  // caller cannot post another until this chunk is counted in done_.
  const int64_t chunks = int64_t(w >> 32), i = int64_t(next);
  int64_t b = units_ * i / chunks * grain_, e = units_ * (i + 1) / chunks * grain_;
  if (e > n_) e = n_;
  if (b < e) (*range_fn_)(b, e, thread);
  done_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  job_generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  wake_workers();
  fn(0);
  wait_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t units = (n + grain - 1) / grain;
  if (n_threads_ == 1 || units == 1) {
    fn(0, n, 0);
    return;
  }
  const int64_t chunks = std::min<int64_t>(units, kChunksPerThread * n_threads_);
  range_fn_ = &fn;
  n_ = n;
  grain_ = grain;
  units_ = units;
  done_.store(0, std::memory_order_relaxed);
  claim_.store(uint64_t(chunks) << 32, std::memory_order_release);
  wake_workers();
  while (run_one_chunk(0)) {
  }
  wait_until([&] { return done_.load(std::memory_order_acquire) == chunks; });
}

int physical_cores() {
  std::set<std::pair<std::string, std::string>> cores;
  for (int cpu = 0; cpu < 4096; ++cpu) {
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream core(base + "core_id"), pkg(base + "physical_package_id");
    if (!core) break;
    std::string c, p;
    core >> c;
    pkg >> p;
    cores.insert({p, c});
  }
  if (!cores.empty()) return int(cores.size());
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? int(hc) : 1;
}

}  // namespace nb
